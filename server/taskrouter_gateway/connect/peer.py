"""The caller's verified client certificate (mutual TLS), from the TLS connection to the call's context.

uvicorn does not put the peer certificate in the ASGI scope. This protocol adds it as the ASGI TLS extension's
client_cert_chain (PEM), once per connection; the application puts it in a context variable for the call,
where ConnectCallContext.auth_context() finds it for auth.py, as grpc's auth_context() does on the gRPC port."""

from __future__ import annotations

import asyncio
import ssl
from contextvars import ContextVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

peer_certificates: ContextVar[tuple[bytes, ...]] = ContextVar("taskrouter_gateway_peer_certificates", default=())


class PeerCertificateProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, plus the peer certificate in each request's scope."""

    _chain: tuple[bytes, ...] = ()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        self._chain = (ssl.DER_cert_to_PEM_cert(der).encode(),) if der else ()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._chain:
            self.scope["extensions"] = {"tls": {"client_cert_chain": self._chain}}
