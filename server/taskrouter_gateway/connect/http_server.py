"""The Connect port as a component: uvicorn serving connect_app in the gateway's own event loop, with the gRPC
port's certificates. Inside the `async with` it listens and `port` is set.

uvicorn with httptools rather than hypercorn, measured (docs/connect.md): on the same gateway, hypercorn's
pure-Python HTTP/1.1 (h11) cost 1.4-2.2x gRPC's CPU per GetWorker, uvicorn's C parser 0.8-1.3x. The price is
HTTP/2: uvicorn speaks HTTP/1.1 only, so connectrpc serves the Connect and gRPC-Web protocols here (both work
over HTTP/1.1) and gRPC clients use the gRPC port."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable

import structlog
import uvicorn

from ..settings_base import StartupError
from ..tls import TlsFiles, TlsSettings, check_pair, is_loopback
from .asgi_types import App
from .peer import PeerCertificateProtocol
from .settings import HttpSettings

log = structlog.get_logger("taskrouter_gateway.http")


def server_ssl_context(files: TlsFiles) -> ssl.SSLContext:
    check_pair(files)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    context.load_cert_chain(files.cert, files.key)
    if files.client_ca:
        context.load_verify_locations(files.client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


class HttpServer:
    def __init__(self, settings: HttpSettings, app: App, tls: TlsSettings | None = None,
                 grace: Callable[[], float] = lambda: 5.0) -> None:
        self.settings = settings
        self._app = app
        self._files = TlsFiles(tls.cert, tls.key, tls.client_ca) if tls is not None and tls.cert and tls.key else None
        self._grace = grace
        self._ssl: ssl.SSLContext | None = None
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None
        self.port = 0

    @property
    def scheme(self) -> str:
        return "https" if self._files is not None else "http"

    @property
    def url(self) -> str:
        host = self.settings.host
        return f"{self.scheme}://{f'[{host}]' if ':' in host else host}:{self.port}"

    async def __aenter__(self) -> HttpServer:
        self._ssl = server_ssl_context(self._files) if self._files is not None else None
        sock = self._socket = self._listen()
        self.port = sock.getsockname()[1]
        ssl_context = self._ssl
        config = uvicorn.Config(
            self._app,
            http=PeerCertificateProtocol, lifespan="on", ws="none", interface="asgi3",
            log_config=None,  # leave the gateway's logging (structlog) as it is
            access_log=False, server_header=False, proxy_headers=False,
            timeout_graceful_shutdown=max(int(self._grace() + 0.999), 1),
            ssl_context_factory=(lambda _config, _default: ssl_context) if ssl_context is not None else None,
        )
        server = self._server = uvicorn.Server(config)
        # What serve() does, step by step, less its signal capture: serve() takes over SIGINT and SIGTERM, which
        # are the gateway's own (cli.py drains the whole gateway on them, this port included, in order).
        config.load()
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=[sock])
        if server.should_exit or not server.started:
            sock.close()
            raise StartupError("the Connect port did not start (see the log above)")
        self._task = asyncio.create_task(server.main_loop(), name="connect-http")
        if self._files is None and not is_loopback(self.settings.host):
            log.warning("the Connect port is listening in plaintext on a non-loopback address; set --tls-cert "
                        "and --tls-key", http=self.url)
        return self

    def _listen(self) -> socket.socket:
        host = self.settings.host.strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((host, self.settings.port or 0))
        except OSError as exc:
            sock.close()
            raise StartupError(f"cannot listen on {host}:{self.settings.port} for the Connect port: "
                               f"{exc.strerror}") from None
        sock.listen(1024)
        sock.setblocking(False)
        return sock

    def reload_tls(self) -> None:
        """SIGHUP: new handshakes get the certificate now on disk; a bad set is refused and the old one kept."""
        if self._ssl is None or self._files is None:
            return
        try:
            check_pair(self._files)
            self._ssl.load_cert_chain(self._files.cert, self._files.key)
            if self._files.client_ca:
                self._ssl.load_verify_locations(self._files.client_ca)
        except Exception as exc:  # a torn or mismatched set: keep serving with the old one
            log.warning("tls reload refused on the Connect port; keeping the previous certificate", error=str(exc))
            return
        log.info("tls certificate reloaded on the Connect port", cert=self._files.cert)

    async def __aexit__(self, *exc: object) -> None:
        server = self._server
        if server is None:
            return
        server.should_exit = True
        if self._task is not None:
            await self._task
        # Closes the listener, asks each connection to finish its response, waits up to the grace, then
        # cancels what is left (streams have ended by now: the fan-out closes them first).
        await server.shutdown(sockets=[self._socket] if self._socket is not None else None)
        self._server = None


