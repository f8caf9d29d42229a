"""The chain every API RPC runs through, unary or server-streaming: steps begin in order, the handler runs,
any exception becomes a status through errors.status_for, then the steps end in reverse order.

Applied when the method handlers are built, not as a grpc.aio ServerInterceptor: grpc.aio awaits an
interceptor on every call, which cost more than the work the steps do. Each method gets only the steps
that apply to it (audit: writes only), chosen once, so a call pays for nothing it does not use.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from opentelemetry.trace import Span

from .. import errors
from ..auth import ANONYMOUS, AccessDenied, Identity
from ..rpc_logging import code_of
from ..scopes import scope_for_method_name
from .marks import is_prebuilt, marked_name, service_descriptor

# Handlers take the request message grpc parsed (or bytes, with no deserializer) and the call's context.
UnaryHandler = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
StreamHandler = Callable[[Any, grpc.aio.ServicerContext], AsyncGenerator[Any, None]]


@dataclass(frozen=True, slots=True)
class Method:
    """An RPC as the steps see it, fixed when its handler is built."""

    name: str  # '/package.Service/Method'
    scope: str  # scopes.py: the scope a caller needs for it
    streaming: bool  # server-streaming: a stream is counted, not timed, and logs opened/closed lines

    @classmethod
    def of(cls, name: str, *, streaming: bool) -> Method:
        return cls(name, scope_for_method_name(name.rpartition("/")[2]), streaming)


@dataclass(frozen=True, slots=True)
class BoundMethod:
    """One RPC of a servicer with the chain around it: `run` is what a transport calls."""

    method: Method
    descriptor: MethodDescriptor
    request_type: type[Message]
    response_type: type[Message]
    prebuilt: bool  # `run` returns (or yields) bytes in wire format, not messages
    run: Callable[[Any, Any], Any]


class Call:
    """One RPC in flight, passed to every step: what the steps learn on the way in, and how it ended."""

    __slots__ = ("code", "context", "denied", "identity", "method", "request", "response", "span", "started")

    def __init__(self, method: Method, request: object, context: grpc.aio.ServicerContext) -> None:
        self.method = method
        self.request = request
        self.context = context
        self.started = time.perf_counter()
        self.identity: Identity = ANONYMOUS
        self.denied: AccessDenied | None = None
        self.span: Span | None = None
        self.response: object = None
        # The gRPC code name the RPC ended with; set before any step's end runs.
        self.code = "UNKNOWN"


class Step:
    """One concern around every RPC. `begin` runs before the handler, in chain order; it may raise to
    refuse the call (auth does), and the refusal is mapped like any handler error. `end` runs after the
    handler, in reverse order, whatever happened, even when a begin raised: it must not assume its own
    begin ran. A step that does not override begin or end costs nothing there."""

    def applies_to(self, method: Method) -> bool:
        return True

    def begin(self, call: Call) -> None:
        pass

    def end(self, call: Call) -> None:
        pass


class Pipeline:
    def __init__(self, steps: Sequence[Step] = ()) -> None:
        self._steps = tuple(steps)

    def _bind(self, method: Method) -> tuple[tuple[Callable[[Call], None], ...], tuple[Callable[[Call], None], ...]]:
        steps = [step for step in self._steps if step.applies_to(method)]
        begins = tuple(step.begin for step in steps if type(step).begin is not Step.begin)
        ends = tuple(step.end for step in reversed(steps) if type(step).end is not Step.end)
        return begins, ends

    def unary(self, method: Method, handler: UnaryHandler) -> UnaryHandler:
        begins, ends = self._bind(method)

        async def run(request: Any, context: grpc.aio.ServicerContext) -> Any:
            call = Call(method, request, context)
            # The code reported when the handler set none: it returned, or was cancelled.
            unset = "UNKNOWN"
            try:
                for begin in begins:
                    begin(call)
                call.response = response = await handler(request, context)
                unset = "OK"
                return response
            except asyncio.CancelledError:
                unset = "CANCELLED"
                raise
            except grpc.aio.AbortError:
                raise  # the handler ended the call with its own status
            except Exception as exc:
                # The one mapping: bad input, caller checks, upstream failures, stream ends, and for anything
                # else (a bug) INTERNAL with an id that is logged once, never UNKNOWN.
                await errors.abort(context, errors.status_for(exc))
            finally:
                call.code = code_of(context, unset)
                for end in ends:
                    end(call)

        return run

    def stream(self, method: Method, handler: StreamHandler) -> StreamHandler:
        begins, ends = self._bind(method)

        async def run(request: Any, context: grpc.aio.ServicerContext) -> AsyncGenerator[Any, None]:
            call = Call(method, request, context)
            unset = "UNKNOWN"
            try:
                for begin in begins:
                    begin(call)
                # aclosing: when this generator is closed or cancelled, the handler's (and whatever it
                # subscribed to) is finished now, not whenever it is garbage collected.
                async with contextlib.aclosing(handler(request, context)) as items:
                    async for item in items:
                        yield item
                unset = "OK"
            except (GeneratorExit, asyncio.CancelledError):
                # The client went away (or the server is stopping) before the stream ended.
                unset = "CANCELLED"
                raise
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await errors.abort(context, errors.status_for(exc))
            finally:
                call.code = code_of(context, unset)
                for end in ends:
                    end(call)

        return run

    def method_handler(self, name: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """`handler` (unary-unary or unary-stream) run through the chain as RPC `name` ('/pkg.Service/Method').
        Serializers are kept as they are (None stays None, for handlers that send prebuilt bytes)."""
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self.unary(Method.of(name, streaming=False), handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self.stream(Method.of(name, streaming=True), handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        raise TypeError(f"{name}: the pipeline runs unary and server-streaming handlers, not client streams")

    def bound_methods(self, servicer: object) -> list[BoundMethod]:
        """Every method the servicer's proto service declares, run through the chain: what the gRPC server
        and the Connect front (connect/) both serve, so each RPC has one implementation and one chain. Each
        must be a method of the servicer marked @rpc, so a new RPC cannot go unserved or unwrapped."""
        owner = type(servicer)
        service = service_descriptor(owner)
        bound = []
        for declared in service.methods:
            name = f"/{service.full_name}/{declared.name}"
            function = getattr(owner, declared.name, None)
            if marked_name(function) != name:
                raise TypeError(f"{owner.__qualname__}.{declared.name}: {name} has no @rpc method")
            if declared.client_streaming:
                raise TypeError(f"{name}: the pipeline runs unary and server-streaming handlers, not client streams")
            method = Method.of(name, streaming=declared.server_streaming)
            handler = getattr(servicer, declared.name)
            bound.append(BoundMethod(
                method=method,
                descriptor=declared,
                request_type=message_factory.GetMessageClass(declared.input_type),
                response_type=message_factory.GetMessageClass(declared.output_type),
                prebuilt=is_prebuilt(function),
                run=self.stream(method, handler) if method.streaming else self.unary(method, handler),
            ))
        return bound

    def service_handlers(self, servicer: object) -> tuple[str, dict[str, grpc.RpcMethodHandler]]:
        """(full service name, gRPC handler per method) for the servicer's bound methods. Prebuilt methods
        get no response serializer: they hand grpc bytes already in wire format."""
        handlers = {}
        for bound in self.bound_methods(servicer):
            make = grpc.unary_stream_rpc_method_handler if bound.method.streaming else grpc.unary_unary_rpc_method_handler
            handlers[bound.descriptor.name] = make(
                bound.run,
                request_deserializer=bound.request_type.FromString,
                response_serializer=None if bound.prebuilt else bound.response_type.SerializeToString,
            )
        return service_descriptor(type(servicer)).full_name, handlers

    def register(self, server: grpc.aio.Server, servicers: Iterable[object]) -> None:
        """Adds each servicer's handlers to `server` as generic handlers only. Not as registered methods (what
        the generated add_*_to_server functions also do): grpc.aio's server keeps one pending request task per
        registered method and waits on all of them again after every call, which with this API's 67 methods
        cost more per RPC than the whole pipeline (2.5 times the Python calls per cache hit, profiled); the
        generic lookup is one dict lookup per service."""
        for servicer in servicers:
            service, handlers = self.service_handlers(servicer)
            server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
