"""@rpc: marks a servicer method as the implementation of the proto method of the same name.

The mark only names the method (checked against the loaded protos when the class is created, so a misnamed
servicer or method fails at import); the wrapping comes from the pipeline when the handlers are built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

from google.protobuf import descriptor_pool
from google.protobuf.descriptor import ServiceDescriptor

Handler = TypeVar("Handler", bound=Callable[..., Any])

# Every gateway service lives in this proto package, named like the servicer class that implements it.
PROTO_PACKAGE = "taskrouter.gateway.v1"


@overload
def rpc(method: Handler) -> Handler: ...


@overload
def rpc(*, prebuilt: bool) -> Callable[[Handler], Handler]: ...


def rpc(method: Any = None, *, prebuilt: bool = False) -> Any:
    """`@rpc` on a coroutine method (unary) or on a method returning an async generator (server-streaming,
    as the proto declares). `@rpc(prebuilt=True)`: it returns or yields bytes already in wire format, sent
    without a response serializer."""
    if method is None:
        return lambda inner: _RpcMethod(inner, prebuilt)
    return _RpcMethod(method, prebuilt)


class _RpcMethod:
    """@rpc's stand-in until its class exists; then it puts the marked function back, its name built in."""

    def __init__(self, method: Callable[..., Any], prebuilt: bool) -> None:
        self._method = method
        self._prebuilt = prebuilt

    def __set_name__(self, owner: type, name: str) -> None:
        self._method.rpc_method = full_method_name(owner, name)  # type: ignore[attr-defined]
        self._method.rpc_prebuilt = self._prebuilt  # type: ignore[attr-defined]
        setattr(owner, name, self._method)


def marked_name(function: object) -> str | None:
    """The full gRPC name @rpc gave `function`, or None if it is not marked."""
    name = getattr(function, "rpc_method", None)
    return name if isinstance(name, str) else None


def is_prebuilt(function: object) -> bool:
    return getattr(function, "rpc_prebuilt", False) is True


def service_descriptor(owner: type) -> ServiceDescriptor:
    """The proto service `owner` implements: PROTO_PACKAGE.<class name>."""
    service = f"{PROTO_PACKAGE}.{owner.__name__}"
    try:
        return descriptor_pool.Default().FindServiceByName(service)
    except KeyError:
        raise TypeError(f"{owner.__qualname__}: no proto service {service} is loaded for @rpc") from None


def full_method_name(owner: type, name: str) -> str:
    """'/taskrouter.gateway.v1.Service/Method', checked against the loaded protos."""
    service = service_descriptor(owner)
    if name not in service.methods_by_name:
        raise TypeError(f"{owner.__qualname__}.{name}: {service.full_name} declares no method {name}")
    return f"/{service.full_name}/{name}"
