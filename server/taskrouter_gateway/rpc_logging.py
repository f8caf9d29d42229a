"""One log line per RPC, with the RPC's method and request id bound to every line logged while it runs.

Applied where the handlers are built, not by a grpc.aio ServerInterceptor: grpc.aio awaits an interceptor
on every call, which cost more than the logging itself. Unary methods get it from services.base.rpc,
streaming ones from logged_stream. Health and reflection RPCs are not logged: they are probes and
tooling, not API traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from contextvars import ContextVar
from typing import Any, AsyncGenerator, AsyncIterator, Callable

import grpc
import structlog

from .cached_logger import CachedLogger

log = CachedLogger("taskrouter_gateway.rpc")

REQUEST_ID_KEY = "x-request-id"

# (HTTP status or None, seconds) of the RPC's last upstream call, for its log line. Every grpc.aio RPC runs
# in a task of its own with its own copy of the context, so this (like the bound contextvars) ends with it.
_upstream: ContextVar[tuple[int | None, float] | None] = ContextVar("taskrouter_gateway_rpc_upstream", default=None)


def request_id(context: grpc.aio.ServicerContext) -> str:
    """The caller's x-request-id when it is a sane length, else a fresh one."""
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_KEY and isinstance(value, str) and 0 < len(value) <= 128:
            return value
    # Correlation only, not a secret: 128 random bits without uuid4's os.urandom call and UUID object.
    return f"{random.getrandbits(128):032x}"


def code_of(context: grpc.aio.ServicerContext, unset: str = "OK") -> str:
    """The status the RPC ends with; `unset` when the handler set none (it returned, or raised past us)."""
    code = context.code()
    return code.name if isinstance(code, grpc.StatusCode) else unset


def begin(method: str, context: grpc.aio.ServicerContext) -> None:
    """Binds rpc_method and request_id for every line logged during the RPC. No unbinding: see _upstream."""
    structlog.contextvars.bind_contextvars(rpc_method=method, request_id=request_id(context))
    _upstream.set(None)


def record_upstream(status: int | None, seconds: float) -> None:
    """Called after each upstream call; the RPC's log line reports the last one."""
    _upstream.set((status, seconds))


def log_unary(context: grpc.aio.ServicerContext, started: float, unset_code: str) -> None:
    """The one "rpc" line: code, latency_ms and, if upstream was called, upstream_status and upstream_ms."""
    if not log.enabled(logging.INFO):
        return
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    upstream = _upstream.get()
    if upstream is None:
        log.get().info("rpc", code=code_of(context, unset_code), latency_ms=latency_ms)
    else:
        log.get().info(
            "rpc",
            code=code_of(context, unset_code),
            latency_ms=latency_ms,
            upstream_status=upstream[0],
            upstream_ms=round(upstream[1] * 1000, 2),
        )


def logged_stream(method: str, handler: grpc.RpcMethodHandler, hooks: Any = None) -> grpc.RpcMethodHandler:
    """`handler` (unary-stream) with rpc_method/request_id bound and "stream opened"/"stream closed" logged.

    `method` is the full name, e.g. "/taskrouter.gateway.v1.EventService/StreamEvents". Serializers are
    kept as they are (None stays None, for handlers that yield prebuilt bytes).
    """
    inner: Callable[[Any, grpc.aio.ServicerContext], AsyncGenerator[Any, None]] | None = handler.unary_stream
    if inner is None:
        raise TypeError(f"logged_stream needs a unary-stream handler for {method}")

    async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        begin(method, context)
        # hooks: rpc_hooks.RpcHooks (caller check, metrics, span); passed in, not imported, to keep this leaf.
        call = hooks.begin(method, request, context) if hooks is not None else None
        log.get().info("stream opened")
        unset = "UNKNOWN"
        try:
            if call is not None and call.denied is not None:
                await hooks.deny(context, call.denied)
            # aclosing: when this generator is closed or cancelled, the inner one (and whatever it
            # subscribed to) is finished now, not whenever it is garbage collected.
            async with contextlib.aclosing(inner(request, context)) as items:
                async for item in items:
                    yield item
            unset = "OK"
        except (GeneratorExit, asyncio.CancelledError):
            # The client went away (or the server is stopping) before the stream ended.
            unset = "CANCELLED"
            raise
        finally:
            code = code_of(context, unset)
            log.get().info("stream closed", code=code)
            if call is not None:
                hooks.end(call, code, request)
                hooks.stream_closed(code)

    return grpc.unary_stream_rpc_method_handler(
        stream,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
