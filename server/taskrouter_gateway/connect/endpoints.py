"""Connect endpoints for the pipeline's bound methods: one per RPC, at the same path as its gRPC method
('/taskrouter.gateway.v1.Workers/CreateWorker'), calling the same chain-wrapped servicer method."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

import grpc
from connectrpc.code import Code
from connectrpc.errors import ConnectError, ErrorDetail
from connectrpc.method import IdempotencyLevel, MethodInfo, StreamType
from connectrpc.request import RequestContext
from connectrpc.server import Endpoint
from google.protobuf.descriptor_pb2 import MethodOptions
from google.rpc import status_pb2
from protobuf.wkt import Any as AnyDetail

from ..pipeline.chain import BoundMethod
from .codecs import Prebuilt
from .context import ConnectCallContext

_DETAILS_KEY = "grpc-status-details-bin"
# grpc's codes by name, Connect's by value: only CANCELLED is spelt differently.
_CODES = {code: Code.CANCELED if code is grpc.StatusCode.CANCELLED else Code[code.name] for code in grpc.StatusCode
          if code is not grpc.StatusCode.OK}
_IDEMPOTENCY = {
    MethodOptions.NO_SIDE_EFFECTS: IdempotencyLevel.NO_SIDE_EFFECTS,
    MethodOptions.IDEMPOTENT: IdempotencyLevel.IDEMPOTENT,
}


def connect_error(context: ConnectCallContext) -> ConnectError:
    """The status the pipeline aborted with (errors.py made it), as Connect's error: code, message, and the
    google.rpc details (ErrorInfo, BadRequest, RetryInfo ...) that gRPC callers get in their trailer."""
    code = context.code()
    details: list[ErrorDetail] = []
    for key, value in context.trailing_metadata():
        if key == _DETAILS_KEY and isinstance(value, bytes):
            status = status_pb2.Status.FromString(value)
            details = [ErrorDetail(AnyDetail(type_url=any_.type_url, value=any_.value)) for any_ in status.details]
    return ConnectError(_CODES.get(code, Code.INTERNAL) if code is not None else Code.INTERNAL,
                        context.details(), details)


def endpoints(bound_methods: Iterable[BoundMethod]) -> Mapping[str, Any]:
    return {bound.method.name: _endpoint(bound) for bound in bound_methods}


def _endpoint(bound: BoundMethod) -> Any:
    descriptor = bound.descriptor
    info = MethodInfo(
        name=descriptor.name,
        service_name=descriptor.containing_service.full_name,
        input=bound.request_type,
        output=bound.response_type,
        idempotency_level=_IDEMPOTENCY.get(descriptor.GetOptions().idempotency_level, IdempotencyLevel.UNKNOWN),
        stream_type=StreamType.SERVER_STREAM if bound.method.streaming else StreamType.UNARY,
    )
    run = bound.run
    response_type = bound.response_type
    # Chosen once per method: prebuilt bytes go to the codecs tagged with their type (codecs.Prebuilt).
    out: Callable[[Any], Any] = (lambda item: Prebuilt(item, response_type)) if bound.prebuilt else (lambda item: item)

    if bound.method.streaming:
        empty = response_type()

        async def stream(request: Any, ctx: RequestContext) -> AsyncIterator[Any]:
            context = ConnectCallContext(ctx)
            opened = context.opened = asyncio.Event()
            items = run(request, context)
            try:
                # The runtime sends response headers with the first message. gRPC callers learn that the stream
                # is subscribed from its headers (send_initial_metadata); a Connect caller gets an empty first
                # message at that moment instead, so a console can say "live" before any event arrives.
                first = asyncio.ensure_future(anext(items))
                waiting = asyncio.ensure_future(opened.wait())
                try:
                    await asyncio.wait((first, waiting), return_when=asyncio.FIRST_COMPLETED)
                    if not first.done():
                        yield empty
                except BaseException:
                    # Gone before the first item: the handler must finish before its generator can be closed.
                    first.cancel()
                    await asyncio.gather(first, return_exceptions=True)
                    raise
                finally:
                    waiting.cancel()
                try:
                    item = await first
                except StopAsyncIteration:
                    return
                yield out(item)
                async for item in items:
                    yield out(item)
            except grpc.aio.AbortError:
                raise connect_error(context) from None
            finally:
                await items.aclose()

        return Endpoint.server_stream(info, stream)

    async def unary(request: Any, ctx: RequestContext) -> Any:
        context = ConnectCallContext(ctx)
        try:
            response = await run(request, context)
        except grpc.aio.AbortError:
            raise connect_error(context) from None
        return out(response)

    return Endpoint.unary(info, unary)
