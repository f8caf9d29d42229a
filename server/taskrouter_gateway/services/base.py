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
from ..rpc_hooks import RpcHooks
from ..translate.rest_call import RestCall
from ..upstream import UpstreamClient, UpstreamFailure, UpstreamResponse

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
        hooks: RpcHooks | None = self._hooks
        call = None
        # The code logged when the handler set none: it returned or was cancelled.
        unset_code = "UNKNOWN"
        response = None
        try:
            if hooks is not None:
                call = hooks.begin(full_name, request, context)
            if call is not None and call.denied is not None:
                raise call.denied
            response = await method(self, request, context)
            unset_code = "OK"
            return response
        except asyncio.CancelledError:
            unset_code = "CANCELLED"
            raise
        except grpc.aio.AbortError:
            raise  # the handler ended the call with its own status
        except Exception as exc:
            # errors.status_for is the one mapping: bad input, caller checks, upstream failures, and for
            # anything else (a bug) INTERNAL with an id that is logged once, never UNKNOWN.
            await errors.abort(context, errors.status_for(exc))
        finally:
            rpc_logging.log_unary(context, started, unset_code)
            if call is not None:
                hooks.end(call, rpc_logging.code_of(context, unset_code), request, response)  # type: ignore[union-attr]

    wrapper.rpc_method = full_name  # type: ignore[attr-defined]
    return wrapper


class UpstreamServicer:
    # Auth, audit, metrics and tracing around each RPC (rpc_hooks); None: just the log line.
    _hooks: RpcHooks | None = None

    def __init__(self, upstream: UpstreamClient, *, hooks: RpcHooks | None = None) -> None:
        self._upstream = upstream
        self._hooks = hooks

    async def _call(self, context: grpc.aio.ServicerContext, call: RestCall) -> UpstreamResponse:
        remaining = context.time_remaining()
        started = time.monotonic()
        deadline = None if remaining is None else started + remaining
        status: int | None = None
        headers = call.headers or None
        tracing = self._hooks.tracing if self._hooks is not None else None
        span = None
        if tracing is not None:
            span, trace_headers = tracing.start_upstream(call.method, call.path)
            if trace_headers:
                headers = {**headers, **trace_headers} if headers else trace_headers
        try:
            reply = await self._upstream.request(
                call.method,
                call.path,
                query=call.query or None,
                form=call.form if call.method == "POST" else None,
                json=call.json,
                headers=headers,
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
            if span is not None:
                tracing.end_upstream(span, status)  # type: ignore[union-attr]
