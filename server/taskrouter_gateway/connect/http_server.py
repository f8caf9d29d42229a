"""The Connect port as a component: hypercorn serving connect_app in the gateway's own event loop, over
HTTP/1.1 and HTTP/2 (h2 by ALPN with TLS, or prior knowledge in plaintext), with the gRPC port's
certificates. Inside the `async with` it listens and `port` is set.

hypercorn rather than uvicorn: uvicorn speaks only HTTP/1.1, and browsers allow six HTTP/1.1 connections per
origin, which a console with its stream open, plus a few dashboards, would use up; hypercorn serves HTTP/2,
TLS and response trailers (connectrpc's gRPC and gRPC-Web protocols need them) from pure Python."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable
from typing import Any

import structlog
from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config, Sockets
from hypercorn.utils import wrap_app

from ..settings_base import StartupError
from ..tls import TlsFiles, TlsSettings, _check_pair, is_loopback
from .cors import App, Receive, Scope, Send
from .settings import HttpSettings

log = structlog.get_logger("taskrouter_gateway.http")


class _TlsConfig(Config):
    """hypercorn's Config with our SSL context, so SIGHUP can load new certificates into it in place."""

    ssl_context: ssl.SSLContext | None = None

    def create_ssl_context(self) -> ssl.SSLContext | None:
        return self.ssl_context


def server_ssl_context(files: TlsFiles) -> ssl.SSLContext:
    _check_pair(files)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # HTTP/2 needs 1.2 or later (RFC 9113 9.2)
    context.set_alpn_protocols(["h2", "http/1.1"])
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
        self._stop = asyncio.Event()
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
        config = _TlsConfig()
        config.ssl_context = self._ssl
        config.certfile, config.keyfile = (self._files.cert, self._files.key) if self._files else (None, None)
        config.accesslog = None
        config.errorlog = logging.getLogger("taskrouter_gateway.http.server")
        config.graceful_timeout = max(self._grace(), 0.1)
        config.include_server_header = False
        started = asyncio.Event()
        # Our own listening socket, so port 0 can be read back and a busy port is one clear line.
        sockets = Sockets([sock], [], []) if self._ssl is not None else Sockets([], [sock], [])
        app = wrap_app(self._watch_startup(started), config.wsgi_max_body_size, "asgi")  # type: ignore[arg-type]
        self._task = asyncio.create_task(worker_serve(app, config, sockets=sockets, shutdown_trigger=self._stop.wait),
                                         name="connect-http")
        waiter = asyncio.create_task(started.wait())
        await asyncio.wait((self._task, waiter), return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if self._task.done():
            await self._close_socket()
            raise StartupError(f"the Connect port did not start: {self._task.exception()}")
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

    def _watch_startup(self, started: asyncio.Event) -> App:
        app = self._app

        async def watched(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "lifespan":
                await app(scope, receive, send)
                return

            async def send_and_watch(message: Any) -> None:
                await send(message)
                if message["type"] == "lifespan.startup.complete":
                    started.set()

            await app(scope, receive, send_and_watch)

        return watched

    def reload_tls(self) -> None:
        """SIGHUP: new handshakes get the certificate now on disk; a bad set is refused and the old one kept."""
        if self._ssl is None or self._files is None:
            return
        try:
            _check_pair(self._files)
            self._ssl.load_cert_chain(self._files.cert, self._files.key)
            if self._files.client_ca:
                self._ssl.load_verify_locations(self._files.client_ca)
        except Exception as exc:  # a torn or mismatched set: keep serving with the old one
            log.warning("tls reload refused on the Connect port; keeping the previous certificate", error=str(exc))
            return
        log.info("tls certificate reloaded on the Connect port", cert=self._files.cert)

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        if self._task is not None:
            try:
                await self._task
            except Exception:
                log.exception("the Connect port stopped with an error")
        await self._close_socket()

    async def _close_socket(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
