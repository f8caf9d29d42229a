"""The app's middlewares: errors (outermost: every failure leaves as Twilio's JSON error body) and faults
(injected REST faults, from the rules in faults.py)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .errors import BAD_PARAMETER, INTERNAL_ERROR, NOT_FOUND, TwilioApiError
from .faults import ADMIN_PREFIX, FaultInjector
from .render import error_response

log = logging.getLogger(__name__)

METHOD_NOT_ALLOWED = 20004


@web.middleware
async def error_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except TwilioApiError as exc:
        return error_response(exc, request.path)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 404:
            error = TwilioApiError(404, NOT_FOUND, "")
        elif exc.status == 405:
            error = TwilioApiError(405, METHOD_NOT_ALLOWED, f"Method {request.method} is not allowed on {request.path}")
        else:
            code = BAD_PARAMETER if exc.status < 500 else INTERNAL_ERROR
            error = TwilioApiError(exc.status, code, exc.reason)
        return error_response(error, request.path)
    except Exception:
        log.exception("unhandled error serving %s %s", request.method, request.path)
        return error_response(
            TwilioApiError(500, INTERNAL_ERROR, "Internal error in the TaskRouter emulator"), request.path
        )


def _is_admin(path: str) -> bool:
    return path == ADMIN_PREFIX.rstrip("/") or path.startswith(ADMIN_PREFIX)


def fault_middleware(injector: FaultInjector) -> Any:
    """Applies the REST fault rules to every API request (never to /admin/*)."""

    @web.middleware
    async def faults(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
        if _is_admin(request.path):
            return await handler(request)
        decision = injector.rest.decide(request.method, request.path)
        if decision is None:
            return await handler(request)
        if decision.latency_ms:
            await injector.rest.sleep(decision.latency_ms / 1000)
        if decision.error is not None:
            return error_response(decision.error, request.path)
        return await handler(request)

    return faults
