"""The admin HTTP port: /metrics (Prometheus text), /healthz (the process answers) and /readyz (send traffic).

Separate from the webhook port, so it can stay on loopback or an internal network while the webhook faces
Twilio. Off unless --admin-port is given.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from .eventlog.log import EventLog
from .metrics import GatewayMetrics
from .settings_base import check_port

# How long a refused append keeps the gateway unready; a later successful append clears it at once.
APPEND_FAILURE_HOLD_SECONDS = 30.0


class Readiness:
    """Whether the gateway should get traffic: not while draining, nor while the event log cannot take writes."""

    def __init__(self, metrics: GatewayMetrics | None = None) -> None:
        self.metrics = metrics
        self.event_log: EventLog | None = None  # set once open; None: not started
        self.draining = False
        self._append_failed_at: float | None = None

    def appended(self, seconds: float, ok: bool) -> None:
        """events.ingest.Ingestor's on_append."""
        self._append_failed_at = None if ok else time.monotonic()
        if self.metrics is not None:
            self.metrics.appended(seconds, ok)

    def reason(self) -> str | None:
        """None when ready; otherwise why not."""
        if self.draining:
            return "draining"
        if self.event_log is None:
            return "not started"
        behind = self.event_log.not_ready_reason()
        if behind is not None:
            return behind
        failed = self._append_failed_at
        if failed is not None and time.monotonic() - failed < APPEND_FAILURE_HOLD_SECONDS:
            return "the event log refused the last append"
        path = getattr(self.event_log, "path", None)
        if path is not None and not os.access(os.path.dirname(os.path.abspath(path)) or ".", os.W_OK):
            return "the event log's directory is not writable"
        return None


@dataclass(frozen=True)
class AdminSettings:
    """/metrics, /healthz and /readyz; no port: no admin server."""

    host: str = "127.0.0.1"
    port: int | None = None

    def validate(self) -> None:
        check_port("admin_port", self.port)


class AdminServer:
    """An async context manager: listening inside the `async with`, `port` set."""

    def __init__(self, metrics: GatewayMetrics | None, readiness: Readiness,
                 settings: AdminSettings | None = None) -> None:
        self._runner = web.AppRunner(create_admin_app(metrics, readiness.reason), access_log=None)
        self._settings = settings or AdminSettings(port=0)
        self.port = 0

    async def __aenter__(self) -> AdminServer:
        await self.start(self._settings.host, self._settings.port or 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self, host: str, port: int) -> int:
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.port

    async def stop(self) -> None:
        await self._runner.cleanup()


def create_admin_app(metrics: GatewayMetrics | None, readiness: Callable[[], str | None]) -> web.Application:
    async def metrics_handler(_request: web.Request) -> web.Response:
        if metrics is None:
            return web.Response(status=404, text="metrics are off\n")
        body = await metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_request: web.Request) -> web.Response:
        reason = readiness()
        if reason is None:
            return web.Response(text="ready\n")
        return web.Response(status=503, text=f"not ready: {reason}\n")

    app = web.Application()
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app
