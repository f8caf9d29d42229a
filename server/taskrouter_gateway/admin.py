"""The admin HTTP port: /metrics (Prometheus text), /healthz (the process answers) and /readyz (send traffic).

Separate from the webhook port, so it can stay on loopback or an internal network while the webhook faces
Twilio. Off unless --admin-port is given.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from .metrics import GatewayMetrics

# None: ready; otherwise the reason it is not.
Readiness = Callable[[], "str | None"]


def create_admin_app(metrics: GatewayMetrics | None, readiness: Readiness) -> web.Application:
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
