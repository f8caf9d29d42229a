"""Channels to the gateway with the shipped retry policy applied, TLS, and a bearer token.

The retry policy is data: taskrouter/gateway/v1/service_config.json, generated from the protos'
idempotency_level, retries only methods that are safe to repeat (Get*, List*, StreamEvents) on UNAVAILABLE
and RESOURCE_EXHAUSTED with exponential backoff. A token travels as `authorization: Bearer <token>` metadata.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import resources
from typing import Any

import grpc
import grpc.aio

from . import _auth

Options = Sequence[tuple[str, Any]]


def service_config() -> str:
    """The shipped gRPC service config (JSON text)."""
    return resources.files("taskrouter.gateway.v1").joinpath("service_config.json").read_text("utf-8")


def channel_options(options: Options = (), *, retry: bool = True) -> list[tuple[str, Any]]:
    """grpc channel options with the service config applied (unless retry=False), then `options`."""
    base: list[tuple[str, Any]] = []
    if retry:
        # json round-trip: compact, and a corrupt file fails here rather than silently inside grpc.
        base += [("grpc.service_config", json.dumps(json.loads(service_config()))), ("grpc.enable_retries", 1)]
    else:
        base += [("grpc.enable_retries", 0)]
    return base + list(options)


def _credentials(
    tls: bool, root_certificates: bytes | None
) -> grpc.ChannelCredentials | None:
    if not tls and root_certificates is None:
        return None
    return grpc.ssl_channel_credentials(root_certificates=root_certificates)


def channel(
    target: str,
    *,
    tls: bool = False,
    root_certificates: bytes | None = None,
    token: str | None = None,
    retry: bool = True,
    options: Options = (),
) -> grpc.Channel:
    """A sync channel. tls=True (or root_certificates) for TLS; token adds `authorization: Bearer <token>`."""
    opts = channel_options(options, retry=retry)
    creds = _credentials(tls, root_certificates)
    ch = grpc.secure_channel(target, creds, opts) if creds else grpc.insecure_channel(target, opts)
    if token:
        ch = grpc.intercept_channel(ch, *_auth.sync_interceptors(token))
    return ch


def aio_channel(
    target: str,
    *,
    tls: bool = False,
    root_certificates: bytes | None = None,
    token: str | None = None,
    retry: bool = True,
    options: Options = (),
) -> grpc.aio.Channel:
    """The asyncio twin of channel()."""
    opts = channel_options(options, retry=retry)
    creds = _credentials(tls, root_certificates)
    interceptors = _auth.aio_interceptors(token) if token else None
    if creds:
        return grpc.aio.secure_channel(target, creds, opts, interceptors=interceptors)
    return grpc.aio.insecure_channel(target, opts, interceptors=interceptors)


__all__ = ["aio_channel", "channel", "channel_options", "service_config"]
