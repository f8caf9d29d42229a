"""CORS for the Connect port: only the origins the operator lists (--http-cors-origin) may call from a
browser page of their own; none by default. The console page needs none: it is served from the same origin.

Small enough to keep here rather than pull in a web framework for it; the rules are the Fetch standard's:
an allowed origin is echoed (never '*', since requests carry an Authorization header), a preflight is
answered without reaching the API, and a refused origin gets no CORS headers, so the browser blocks it."""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any

from .asgi_types import App, Receive, Scope, Send, respond

# What a Connect or gRPC-Web browser client sends and must be able to read (connect-web's documented lists).
ALLOWED_HEADERS = (b"content-type, connect-protocol-version, connect-timeout-ms, connect-content-encoding, "
                   b"connect-accept-encoding, authorization, x-request-id, traceparent, x-grpc-web, x-user-agent, "
                   b"grpc-timeout")
EXPOSED_HEADERS = (b"grpc-status, grpc-message, grpc-status-details-bin, content-encoding, connect-content-encoding, "
                   b"trailer-x-cache-age-ms, trailer-x-cache, x-cache-age-ms, x-cache")
MAX_AGE = b"7200"


class Cors:
    def __init__(self, app: App, origins: Iterable[str]) -> None:
        self._app = app
        self._origins = frozenset(origin.rstrip("/").encode() for origin in origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        origin = _header(scope, b"origin")
        allowed = origin is not None and origin in self._origins
        if scope["method"] == "OPTIONS" and _header(scope, b"access-control-request-method") is not None:
            await _preflight(send, origin if allowed else None)
            return
        if not allowed:
            await self._app(scope, receive, send)
            return
        assert origin is not None

        async def send_with_cors(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()),
                                      (b"access-control-allow-origin", origin),
                                      (b"access-control-expose-headers", EXPOSED_HEADERS),
                                      (b"vary", b"Origin")]
            await send(message)

        await self._app(scope, receive, send_with_cors)


async def _preflight(send: Send, origin: bytes | None) -> None:
    headers = [(b"vary", b"Origin")]
    if origin is not None:
        headers += [(b"access-control-allow-origin", origin),
                    (b"access-control-allow-methods", b"POST, GET"),
                    (b"access-control-allow-headers", ALLOWED_HEADERS),
                    (b"access-control-max-age", MAX_AGE)]
    # 204 either way: a refused origin learns nothing but the missing allow header, which the browser enforces.
    await respond(send, 204, headers)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None
