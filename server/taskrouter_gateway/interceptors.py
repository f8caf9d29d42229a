"""Binds the RPC method and a request id to every log line of an RPC, and logs one line per RPC."""

from __future__ import annotations

import random
import time
from typing import Any, Awaitable, Callable

import grpc
import structlog

log = structlog.get_logger("taskrouter_gateway.rpc")

REQUEST_ID_KEY = "x-request-id"


def _request_id(context: grpc.aio.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_KEY and isinstance(value, str) and 0 < len(value) <= 128:
            return value
    # Correlation only, not a secret: 128 random bits without uuid4's os.urandom call and UUID object.
    return f"{random.getrandbits(128):032x}"


def _code_of(context: grpc.aio.ServicerContext) -> str:
    code = context.code()
    return code.name if isinstance(code, grpc.StatusCode) else "OK"


class LoggingInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self) -> None:
        # Handlers are static per method: wrap each once, not on every call.
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = details.method
        cached = self._wrapped.get(method)
        if cached is not None:
            return cached
        handler = await continuation(details)
        if handler is None:
            return handler
        wrapped = self._wrap(method, handler)
        self._wrapped[method] = wrapped
        return wrapped

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        if handler.unary_unary:
            inner = handler.unary_unary

            async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                request_id = _request_id(context)
                structlog.contextvars.bind_contextvars(rpc_method=method, request_id=request_id)
                started = time.perf_counter()
                try:
                    return await inner(request, context)
                finally:
                    log.info(
                        "rpc",
                        code=_code_of(context),
                        latency_ms=round((time.perf_counter() - started) * 1000, 2),
                    )
                    structlog.contextvars.unbind_contextvars(
                        "rpc_method", "request_id", "upstream_status", "upstream_ms"
                    )

            return grpc.unary_unary_rpc_method_handler(
                unary,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            inner_stream = handler.unary_stream

            async def stream(request: Any, context: grpc.aio.ServicerContext):
                structlog.contextvars.bind_contextvars(rpc_method=method, request_id=_request_id(context))
                log.info("stream opened")
                try:
                    async for item in inner_stream(request, context):
                        yield item
                finally:
                    log.info("stream closed", code=_code_of(context))
                    structlog.contextvars.unbind_contextvars("rpc_method", "request_id")

            return grpc.unary_stream_rpc_method_handler(
                stream,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler
