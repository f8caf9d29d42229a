"""What every servicer shares: the deadline hand-off to upstream and the one place errors become statuses."""

from __future__ import annotations

import functools
import time
from typing import Any, Awaitable, Callable, TypeVar

import grpc
import structlog

from .. import errors
from ..translate.rest_call import RestCall
from ..upstream import UpstreamClient, UpstreamFailure, UpstreamResponse
from ..validation import InvalidArgument

Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Any]])


def rpc(method: Handler) -> Handler:
    """Turns the exceptions a servicer may raise into google.rpc statuses, via errors.py only."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await method(self, request, context)
        except InvalidArgument as exc:
            await errors.abort(context, errors.invalid_argument(exc.violations))
        except UpstreamFailure as exc:
            await errors.abort(context, errors.status_for(exc))

    return wrapper  # type: ignore[return-value]


class UpstreamServicer:
    def __init__(self, upstream: UpstreamClient) -> None:
        self._upstream = upstream

    async def _call(self, context: grpc.aio.ServicerContext, call: RestCall) -> UpstreamResponse:
        remaining = context.time_remaining()
        started = time.monotonic()
        deadline = None if remaining is None else started + remaining
        status: int | None = None
        try:
            reply = await self._upstream.request(
                call.method,
                call.path,
                query=call.query or None,
                form=call.form if call.method == "POST" else None,
                headers=call.headers or None,
                deadline=deadline,
                base=call.base,  # type: ignore[arg-type]
            )
            status = reply.status
            return reply
        except UpstreamFailure as exc:
            status = getattr(exc, "status", None)
            raise
        finally:
            # Picked up by the interceptor's one log line per RPC.
            structlog.contextvars.bind_contextvars(
                upstream_status=status, upstream_ms=round((time.monotonic() - started) * 1000, 2)
            )
