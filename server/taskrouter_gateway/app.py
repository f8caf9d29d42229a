"""The composition root: each component entered in start-up order on one AsyncExitStack, so a stop (or a
failed start) tears them down in exactly the reverse order."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import os
from typing import Any

import grpc
import structlog
from grpc_health.v1 import health_pb2
from grpc_health.v1._async import HealthServicer

from . import embedded, logs
from .admin import AdminServer, Readiness
from .auth import AuthPolicy
from .background import background
from .config import Settings
from .connect.asgi import connect_app
from .connect.http_server import HttpServer
from .eventlog import records
from .eventlog.backends import build_event_log
from .eventlog.log import EventLog, EventLogError, run_retention
from .grpc_server import GrpcServer, check_port_free
from .ingest.backfill import Backfiller
from .ingest.ingestor import Ingestor
from .ingest.live_marks import LiveMarks
from .ingest.webhook import WebhookHandler
from .ingest.webhook_server import WebhookServer
from .metrics import GatewayMetrics
from .pipeline import gateway_pipeline
from .reads.reads import Reads
from .services import registry
from .services.event_stream import EventStreamer
from .services.events import EventService
from .settings_base import StartupError
from .tls import ReloadingServerCredentials
from .tracing import PassThrough, Tracing, provider_from_env
from .translate.workspaces import event_callback_call
from .stream.fanout import FanOut
from .upstream import UpstreamClient

__all__ = ["SERVICE_NAMES", "Gateway", "StartupError"]

log = structlog.get_logger("taskrouter_gateway")

SERVICE_NAMES = registry.SERVICE_NAMES


class Gateway:
    """One running gateway. `await start()`, then `await stop()`; usable as an async context manager.

    The attributes below are handles on the running components, for the CLI and tests; each is None (or 0)
    outside start() .. stop()."""

    def __init__(self, settings: Settings, *, tracer_provider: Any = None) -> None:
        """`tracer_provider`: an OpenTelemetry TracerProvider to use instead of one from OTEL_* variables."""
        self.settings = settings
        self.health = HealthServicer()
        self._stack = contextlib.AsyncExitStack()
        self._grace = settings.shutdown_grace_seconds
        # Certificates and the auth file are read now, so a bad one fails before anything starts.
        self.tls = ReloadingServerCredentials.from_settings(settings.tls)
        self.auth: AuthPolicy | None = AuthPolicy(settings.auth_file) if settings.auth_file else None
        self.metrics: GatewayMetrics | None = GatewayMetrics() if settings.admin_port is not None else None
        provider = tracer_provider if tracer_provider is not None else provider_from_env(os.environ)
        self.tracing: Tracing | PassThrough = Tracing(provider) if provider is not None else PassThrough()
        self._owns_tracing = tracer_provider is None
        self.pipeline = gateway_pipeline(auth=self.auth, metrics=self.metrics, tracing=self.tracing)
        self.readiness = Readiness(self.metrics)
        self._forget()

    def _forget(self) -> None:
        self.emulator: embedded.EmbeddedUpstream | None = None
        self.upstream: UpstreamClient | None = None
        self.event_log: EventLog | None = None
        self.fanout: FanOut | None = None
        self.live_marks: LiveMarks | None = None
        self.reads: Reads | None = None
        self.backfiller: Backfiller | None = None
        self.webhook_server: WebhookServer | None = None
        self.admin: AdminServer | None = None
        self.grpc: GrpcServer | None = None
        self.http: HttpServer | None = None
        self.backfill_task: Any = None

    # -- handles -------------------------------------------------------------------------------------

    @property
    def server(self) -> grpc.aio.Server | None:
        return self.grpc.server if self.grpc is not None else None

    @property
    def grpc_port(self) -> int:
        return self.grpc.port if self.grpc is not None else 0

    @property
    def grpc_target(self) -> str:
        return f"{self.settings.grpc_host}:{self.grpc_port}"

    @property
    def webhook(self) -> WebhookHandler | None:
        return self.webhook_server.handler if self.webhook_server is not None else None

    @property
    def webhook_port(self) -> int:
        return self.webhook_server.port if self.webhook_server is not None else 0

    @property
    def webhook_url(self) -> str:
        if self.webhook_server is not None:
            return self.webhook_server.url
        return self.settings.webhook_public_url or ""

    @property
    def http_port(self) -> int:
        return self.http.port if self.http is not None else 0

    @property
    def http_url(self) -> str:
        return self.http.url if self.http is not None else ""

    @property
    def admin_port(self) -> int:
        return self.admin.port if self.admin is not None else 0

    @property
    def default_workspace_sid(self) -> str | None:
        return self.emulator.default_workspace_sid if self.emulator else None

    # -- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Tracing -> emulator -> upstream -> event log (+ retention) -> fan-out -> marks -> webhook -> admin
        -> gRPC server -> auth watch -> start-up backfill; health SERVING last.

        A failed start releases whatever it took (ports, the event log's lock, the emulator) and raises;
        StartupError for what an operator can fix."""
        try:
            await self._start(self._stack)
        except BaseException:
            self._grace = 0
            await self._stack.aclose()
            self._forget()
            raise

    async def _start(self, stack: contextlib.AsyncExitStack) -> None:
        settings = self.settings
        if self._owns_tracing:
            stack.callback(self.tracing.shutdown)  # flushes spans still queued for export
        if settings.uses_data_dir:
            os.makedirs(settings.data_dir, exist_ok=True)
        check_port_free(settings.grpc_host, settings.grpc_port, "gRPC")
        if settings.auth_token or settings.embedded:
            check_port_free(settings.webhook_host, settings.webhook_port, "the event webhook")
        if settings.embedded:
            self.emulator = await stack.enter_async_context(embedded.running(settings.emulator))
            # From here on the emulator is just another upstream with credentials.
            settings = self.settings = dataclasses.replace(
                settings,
                account_sid=self.emulator.account_sid,
                auth_token=self.emulator.auth_token,
                taskrouter_base_url=self.emulator.base_url,
                api_base_url=self.emulator.base_url,
            )
        observer = self.metrics.upstream_attempt if self.metrics is not None else None
        self.upstream = await stack.enter_async_context(settings.upstream.client(attempt_observer=observer))

        try:
            self.event_log = await stack.enter_async_context(build_event_log(settings.event_log))
        except EventLogError as exc:  # EventLogOpenError mostly; any other is just as much a failed start
            raise StartupError(str(exc)) from None
        await stack.enter_async_context(background(run_retention(self.event_log, 3600.0), "event-retention"))
        # URLs in events point where the REST API lives, so webhook and backfilled events agree.
        render = functools.partial(records.to_event, base_url=settings.taskrouter_base_url)
        self.fanout = await stack.enter_async_context(
            FanOut(self.event_log, render=render, buffer_size=settings.subscriber_buffer)
        )
        self.reads = Reads(settings.reads)
        self.fanout.add_listener(self.reads)
        self.live_marks = LiveMarks(self.event_log)
        ingestor = Ingestor(self.event_log, self.fanout, on_append=self.readiness.appended,
                            retention_days=settings.event_retention_days, live_marks=self.live_marks)
        self.backfiller = Backfiller(self.upstream, self.event_log, ingestor)
        # Entered before the webhook, so it exits after it: the marks are flushed once more after the last
        # callback, then the log closes.
        await stack.enter_async_context(background(self.live_marks.run(), "event-marks"))
        if settings.auth_token:
            self.webhook_server = await stack.enter_async_context(WebhookServer(
                settings.webhook, settings.auth_token, ingestor,
                shutdown_grace_seconds=settings.shutdown_grace_seconds,
            ))
        else:
            # Twilio signs callbacks with the account's auth token; an API key cannot verify them.
            log.warning("webhook disabled: set TWILIO_AUTH_TOKEN so callback signatures can be verified")
        # Before the gRPC server, so its teardown comes after the drain: /readyz answers false while draining.
        if settings.admin_port is not None:
            if self.metrics is not None:
                self.metrics.live.watch(self.event_log, self.webhook, self.fanout, self.reads)
            self.admin = await stack.enter_async_context(AdminServer(self.metrics, self.readiness, settings.admin))

        servicers = self._servicers()
        self.grpc = await stack.enter_async_context(GrpcServer(
            settings.grpc, lambda server: self.pipeline.register(server, servicers), SERVICE_NAMES, self.health,
            self.tls, lambda: self._grace,
        ))
        if settings.http.port is not None:
            # The same servicer objects through the same pipeline: one implementation of each RPC.
            bound = [method for servicer in servicers for method in self.pipeline.bound_methods(servicer)]
            self.http = await stack.enter_async_context(HttpServer(
                settings.http, connect_app(bound, cors_origins=settings.http.cors_origins), settings.tls,
                lambda: self._grace,
            ))
        self.readiness.event_log = self.event_log  # ready from here on
        if self.auth is not None:
            await stack.enter_async_context(background(self.auth.watch(), "auth-file-watch"))

        if self.emulator is not None:
            await self._wire_embedded_callbacks()
        if settings.backfill_on_start:
            self.backfill_task = await stack.enter_async_context(
                background(self._backfill_on_start(), "startup-backfill")
            )
        for name in ("", *SERVICE_NAMES):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info(
            "gateway started",
            grpc=self.grpc_target,
            http=self.http_url or None,
            webhook=logs.redact_url(self.webhook_url),  # a public URL may carry user:password@
            embedded=self.emulator is not None,
        )

    def _servicers(self) -> tuple[object, ...]:
        assert self.upstream is not None and self.event_log is not None and self.fanout is not None
        assert self.backfiller is not None
        # No interceptor: the pipeline wraps each API handler; health and reflection go unwrapped.
        return (
            *(servicer(self.upstream, tracing=self.tracing, reads=self.reads)
              for servicer in registry.UPSTREAM_SERVICERS),
            # With the webhook off there is no URL of ours to point Twilio at.
            EventService(self.upstream, self.backfiller, self.webhook_url if self.webhook_server else None,
                         EventStreamer(self.event_log, self.fanout), tracing=self.tracing),
        )

    def reload(self) -> None:
        """SIGHUP: re-read certificates (at the next handshake) and the auth file now."""
        if self.tls is not None:
            self.tls.reload()
        if self.http is not None:
            self.http.reload_tls()
        if self.auth is not None:
            self.auth.refresh(force=True)

    async def _wire_embedded_callbacks(self) -> None:
        """Embedded mode: point the default workspace at our webhook, so events stream at once."""
        assert self.emulator is not None and self.upstream is not None
        call = event_callback_call(self.emulator.default_workspace_sid, self.webhook_url, None)
        await self.upstream.post(call.path, form=call.form, deadline=None)

    async def _backfill_on_start(self) -> None:
        assert self.upstream is not None and self.backfiller is not None
        try:
            workspaces = self.settings.workspace_sids
            if not workspaces:
                reply = await self.upstream.get("/v1/Workspaces", query={"PageSize": 1000}, deadline=None)
                workspaces = tuple(w["sid"] for w in (reply.body or {}).get("workspaces", ()))
            for sid in workspaces:
                await self.backfiller.backfill(sid)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Backfill is best effort at start-up; the BackfillEvents RPC can repeat it.
            log.exception("start-up backfill failed")

    async def stop(self, grace: float | None = None) -> None:
        """Health NOT_SERVING first; streams end UNAVAILABLE; unary RPCs drain for `grace`; then the rest,
        each component's teardown in reverse order. Calling it again does nothing."""
        self._grace = self.settings.shutdown_grace_seconds if grace is None else grace
        self.readiness.draining = True
        await self.health.enter_graceful_shutdown()
        if self.fanout is not None:
            # Streams first, so they end UNAVAILABLE with a resume cursor instead of being cut at the grace.
            await self.fanout.close(drain_timeout=max(self._grace, 0.1))
        await self._stack.aclose()
        self._forget()
        log.info("gateway stopped")

    async def wait_for_termination(self) -> None:
        if self.grpc is not None:
            await self.grpc.wait_for_termination()

    async def __aenter__(self) -> "Gateway":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
