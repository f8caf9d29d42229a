"""The outermost middleware: every failure leaves as Twilio's JSON error body."""

from __future__ import annotations

import logging

from aiohttp import web

from .errors import BAD_PARAMETER, INTERNAL_ERROR, NOT_FOUND, TwilioApiError
from .render import json_response

log = logging.getLogger(__name__)

METHOD_NOT_ALLOWED = 20004


def error_response(exc: TwilioApiError, path: str) -> web.Response:
    if exc.code == NOT_FOUND and not exc.message:
        exc = TwilioApiError(exc.status, exc.code, f"The requested resource {path} was not found", exc.headers)
    return json_response(exc.body(), status=exc.status, headers=exc.headers or None)


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
