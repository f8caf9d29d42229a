"""The Connect port's ASGI application: the API at its Connect paths, the console at /console, CORS around
both. The API part is the official runtime's ConnectASGIApplication with our endpoints and codecs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from connectrpc.server import ConnectASGIApplication

from ..pipeline.chain import BoundMethod
from .codecs import JsonCodec, ProtoCodec
from .console import Console
from .asgi_types import App, Receive, Scope, Send, respond
from .cors import Cors
from .endpoints import endpoints
from .peer import peer_certificates

# The largest request message accepted, as on the gRPC port (grpc's default receive limit).
READ_MAX_BYTES = 4 * 1024 * 1024


class _Api(ConnectASGIApplication[object]):
    """Every service's endpoints in one application: the runtime looks each request's path up in them."""

    path = "/"

    def __init__(self, routes: Mapping[str, Any]) -> None:
        super().__init__(service=object(), endpoints=lambda _service: routes, read_max_bytes=READ_MAX_BYTES,
                         codecs=(ProtoCodec(), JsonCodec()))


def connect_app(bound_methods: Iterable[BoundMethod], *, cors_origins: Iterable[str] = (),
                console: bool = True) -> App:
    api = _Api(endpoints(bound_methods))
    page = Console() if console else None

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if page is not None and page.handles(scope["path"]):
                await page(scope, receive, send)
                return
            chain = scope.get("extensions", {}).get("tls", {}).get("client_cert_chain")
            if chain:
                peer_certificates.set(tuple(chain))  # for auth, in this request's task and those it starts
            if _grpc_without_trailers(scope):
                await respond(send, 415, [(b"content-type", b"text/plain; charset=utf-8")],
                              b"the gRPC protocol needs HTTP/2 with trailers: use the gRPC port, or Connect or "
                              b"gRPC-Web here\n")
                return
        await api(scope, receive, send)

    return Cors(route, cors_origins)


def _grpc_without_trailers(scope: Scope) -> bool:
    """The runtime serves gRPC only where the server can send trailers (HTTP/2); refused here, plainly,
    rather than left to fail inside it."""
    if "http.response.trailers" in scope.get("extensions", {}):
        return False
    for key, value in scope.get("headers", ()):
        if key == b"content-type":
            return value.startswith(b"application/grpc") and not value.startswith(b"application/grpc-web")
    return False

