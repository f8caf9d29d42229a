"""What every servicer shares: the deadline hand-off to upstream, the one place errors become statuses,
and the per-RPC log line (rpc_logging)."""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any, Awaitable, Callable, TypeVar

import grpc
from google.protobuf import descriptor_pool

from .. import errors, rpc_logging
from ..translate.rest_call import RestCall
from ..upstream import UpstreamClient, UpstreamFailure, UpstreamResponse
from ..validation import InvalidArgument

Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Any]])

# Every gateway service lives in this proto package, named like the servicer class that implements it.
PROTO_PACKAGE = "taskrouter.gateway.v1"


def rpc(method: Handler) -> Handler:
    """Marks a unary servicer method: errors become google.rpc statuses (via errors.py only) and each call
    logs one "rpc" line with rpc_method and request_id bound for everything logged during it.

    The full gRPC method name is resolved once, when the class is created (see _RpcMethod).
    """
    return _RpcMethod(method)  # type: ignore[return-value]


class _RpcMethod:
    """@rpc's stand-in until its class exists; then it swaps itself for the wrapper with the name built in."""

    def __init__(self, method: Callable[..., Awaitable[Any]]) -> None:
        self._method = method

    def __set_name__(self, owner: type, name: str) -> None:
        setattr(owner, name, _wrap(self._method, full_method_name(owner, name)))


def full_method_name(owner: type, name: str) -> str:
    """'/taskrouter.gateway.v1.Service/Method', checked against the loaded protos so a misnamed servicer or
    method fails at import rather than logging a name no client can call."""
    service = f"{PROTO_PACKAGE}.{owner.__name__}"
    try:
        descriptor = descriptor_pool.Default().FindServiceByName(service)
    except KeyError:
        raise TypeError(f"{owner.__qualname__}: no proto service {service} is loaded for @rpc") from None
    if name not in descriptor.methods_by_name:
        raise TypeError(f"{owner.__qualname__}.{name}: {service} declares no method {name}")
    return f"/{service}/{name}"


def _wrap(method: Callable[..., Awaitable[Any]], full_name: str) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        rpc_logging.begin(full_name, context)
        started = time.perf_counter()
        # The code logged when the handler set none: it returned, was cancelled, or raised something unmapped
        # (grpc answers UNKNOWN).
        unset_code = "UNKNOWN"
        try:
            response = await method(self, request, context)
            unset_code = "OK"
            return response
        except InvalidArgument as exc:
            await errors.abort(context, errors.invalid_argument(exc.violations))
        except UpstreamFailure as exc:
            await errors.abort(context, errors.status_for(exc))
        except asyncio.CancelledError:
            unset_code = "CANCELLED"
            raise
        finally:
            rpc_logging.log_unary(context, started, unset_code)

    wrapper.rpc_method = full_name  # type: ignore[attr-defined]
    return wrapper


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
                json=call.json,
                headers=call.headers or None,
                deadline=deadline,
                base=call.base,  # type: ignore[arg-type]
                read_only=call.read_only,
            )
            status = reply.status
            return reply
        except UpstreamFailure as exc:
            status = getattr(exc, "status", None)
            raise
        finally:
            rpc_logging.record_upstream(status, time.monotonic() - started)
