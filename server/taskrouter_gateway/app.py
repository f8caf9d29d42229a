"""The gateway's lifecycle: upstream session -> (event log -> webhook) -> gRPC server; stop in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import os
import socket
from typing import Any

import grpc
import structlog
from aiohttp import web
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from . import embedded, logs
from .admin import AdminServer, Readiness
from .auth import AuthPolicy
from .config import Settings
from .events import records
from .events.backfill import Backfiller
from .events.fanout import FanOut
from .events.ingest import Ingestor
from .events.backends import build_event_log
from .events.live_marks import LiveMarks
from .events.log import EventLog, EventLogError, run_retention
from .events.signature import SignatureVerifier
from .events.webhook import WebhookHandler, create_webhook_app, runner_options
from .metrics import GatewayMetrics
from .pipeline import gateway_pipeline
from .services import registry
from .services.event_stream import EventStreamer
from .services.events import EventService
from .tls import ReloadingServerCredentials, add_port
from .tracing import PassThrough, Tracing, provider_from_env
from .translate.workspaces import event_callback_call
from .upstream import Credentials, RetryPolicy, UpstreamClient

log = structlog.get_logger("taskrouter_gateway")

SERVICE_NAMES = registry.SERVICE_NAMES


class StartupError(Exception):
    """The gateway cannot start for a reason the operator can fix (a port in use, a log opened elsewhere);
    the message says which, in one line."""


def _check_port_free(host: str, port: int, what: str) -> None:
    # gRPC binds with SO_REUSEPORT and logs its own multi-line error; a plain bind first says it clearly.
    if port == 0:
        return
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise StartupError(f"cannot listen on {host}:{port} for {what}: {exc.strerror}") from None


def _credentials(settings: Settings) -> Credentials:
    assert settings.account_sid
    if settings.api_key and settings.api_secret:
        return Credentials.from_api_key(settings.account_sid, settings.api_key, settings.api_secret)
    assert settings.auth_token
    return Credentials.from_auth_token(settings.account_sid, settings.auth_token)


class Gateway:
    """One running gateway. `await start()`, then `await stop()`; usable as an async context manager."""

    def __init__(self, settings: Settings, *, tracer_provider: Any = None) -> None:
        """`tracer_provider`: an OpenTelemetry TracerProvider to use instead of one from OTEL_* variables."""
        self.settings = settings
        self.emulator: embedded.EmbeddedUpstream | None = None
        self.upstream: UpstreamClient | None = None
        self.health = HealthServicer()
        self.server: grpc.aio.Server | None = None
        self.grpc_port: int = 0
        self.event_log: EventLog | None = None
        self.fanout: FanOut | None = None
        self.backfiller: Backfiller | None = None
        self.live_marks: LiveMarks | None = None
        self._marks_task: asyncio.Task[None] | None = None
        self.webhook: WebhookHandler | None = None
        self.webhook_port: int = 0
        self._webhook_runner: web.AppRunner | None = None
        self._retention_task: asyncio.Task[None] | None = None
        self._backfill_task: asyncio.Task[None] | None = None
        # Each start step pushes its own teardown here, so stop() (or a failed start) undoes exactly what
        # was done, in reverse.
        self._stack = contextlib.AsyncExitStack()
        self._grace = settings.shutdown_grace_seconds
        # Certificates and the auth file are read now, so a bad one fails before anything starts.
        self.tls = ReloadingServerCredentials.from_settings(settings)
        self.auth: AuthPolicy | None = AuthPolicy(settings.auth_file) if settings.auth_file else None
        self.metrics: GatewayMetrics | None = GatewayMetrics() if settings.admin_port is not None else None
        provider = tracer_provider if tracer_provider is not None else provider_from_env(os.environ)
        self.tracing: Tracing | PassThrough = Tracing(provider) if provider is not None else PassThrough()
        self._owns_tracing = tracer_provider is None
        self.pipeline = gateway_pipeline(auth=self.auth, metrics=self.metrics, tracing=self.tracing)
        self.readiness = Readiness(self.metrics)
        self.admin: AdminServer | None = None
        self.admin_port: int = 0
        self._auth_task: asyncio.Task[None] | None = None

    @property
    def grpc_target(self) -> str:
        return f"{self.settings.grpc_host}:{self.grpc_port}"

    @property
    def default_workspace_sid(self) -> str | None:
        return self.emulator.default_workspace_sid if self.emulator else None

    async def start(self) -> None:
        """upstream session -> event log -> fan-out -> webhook -> gRPC server; then wiring and backfill.

        A failed start releases whatever it took (ports, the event log's lock, the emulator) and raises;
        StartupError for what an operator can fix."""
        try:
            await self._start(self._stack)
        except BaseException:
            self._grace = 0
            await self._stack.aclose()
            raise

    async def _start(self, stack: contextlib.AsyncExitStack) -> None:
        settings = self.settings
        stack.callback(self._shutdown_tracing)
        if settings.uses_data_dir:
            os.makedirs(settings.data_dir, exist_ok=True)
        _check_port_free(settings.grpc_host, settings.grpc_port, "gRPC")
        if settings.auth_token or settings.embedded:
            _check_port_free(settings.webhook_host, settings.webhook_port, "the event webhook")
        if settings.embedded:
            self.emulator = await embedded.start(settings)
            stack.push_async_callback(self._stop_emulator)
            # From here on the emulator is just another upstream with credentials.
            settings = dataclasses.replace(
                settings,
                account_sid=self.emulator.account_sid,
                auth_token=self.emulator.auth_token,
                taskrouter_base_url=self.emulator.base_url,
                api_base_url=self.emulator.base_url,
            )
            self.settings = settings
        self.upstream = UpstreamClient(
            _credentials(settings),
            taskrouter_base_url=settings.taskrouter_base_url,
            api_base_url=settings.api_base_url,
            retry_policy=RetryPolicy(max_attempts=settings.upstream_max_attempts),
            connection_limit=settings.upstream_connections,
            attempt_observer=self.metrics.upstream_attempt if self.metrics is not None else None,
        )
        await self.upstream.start()
        stack.push_async_callback(self._close_upstream)

        self.event_log = build_event_log(settings)
        try:
            await self.event_log.open()
        except EventLogError as exc:  # EventLogOpenError mostly; any other is just as much a failed start
            raise StartupError(str(exc)) from None
        stack.push_async_callback(self._close_event_log)
        self._retention_task = asyncio.create_task(run_retention(self.event_log, 3600.0), name="event-retention")
        stack.push_async_callback(_cancel, self._retention_task)
        # URLs in events point where the REST API lives, so webhook and backfilled events agree.
        render = functools.partial(records.to_event, base_url=settings.taskrouter_base_url)
        self.fanout = FanOut(self.event_log, render=render, buffer_size=settings.subscriber_buffer)
        await self.fanout.start()
        stack.push_async_callback(self._close_fanout)
        self.live_marks = LiveMarks(self.event_log)
        ingestor = Ingestor(self.event_log, self.fanout, on_append=self.readiness.appended,
                            retention_days=settings.event_retention_days, live_marks=self.live_marks)
        self.backfiller = Backfiller(self.upstream, self.event_log, ingestor)
        # Teardown runs in reverse: the webhook stops first, then the marks are flushed once more, then the log
        # closes.
        self._marks_task = asyncio.create_task(self.live_marks.run(), name="event-marks")
        stack.push_async_callback(_cancel, self._marks_task)

        await self._start_webhook(ingestor, stack)
        # Before the gRPC server, so its teardown comes after the drain: /readyz answers false while draining.
        if settings.admin_port is not None:
            if self.metrics is not None:
                self.metrics.live.watch(self.event_log, self.webhook, self.fanout)
            self.admin = AdminServer(self.metrics, self.readiness)
            self.admin_port = await self.admin.start(settings.admin_host, settings.admin_port)
            stack.push_async_callback(self._stop_admin)

        # No interceptor: the pipeline wraps each API handler; health and reflection go unwrapped.
        server = grpc.aio.server()
        self.pipeline.register(server, (
            *(servicer(self.upstream, tracing=self.tracing) for servicer in registry.UPSTREAM_SERVICERS),
            # With the webhook off there is no URL of ours to point Twilio at.
            EventService(self.upstream, self.backfiller, self.webhook_url if self.webhook else None,
                         EventStreamer(self.event_log, self.fanout), tracing=self.tracing),
        ))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
            server,
        )
        try:
            self.grpc_port = add_port(server, settings.grpc_host, settings.grpc_address, self.tls)
        except RuntimeError:
            self.grpc_port = 0
        if self.grpc_port == 0:
            raise StartupError(f"cannot listen on {settings.grpc_address} for gRPC")
        await server.start()
        self.server = server
        stack.push_async_callback(self._stop_serving)
        self.readiness.event_log = self.event_log  # ready from here on
        if self.auth is not None:
            self._auth_task = asyncio.create_task(self.auth.watch(), name="auth-file-watch")
            stack.push_async_callback(_cancel, self._auth_task)

        if self.emulator is not None:
            await self._wire_embedded_callbacks()
        if settings.backfill_on_start:
            self._backfill_task = asyncio.create_task(self._backfill_on_start(), name="startup-backfill")
            stack.push_async_callback(_cancel, self._backfill_task)
        for name in ("", *SERVICE_NAMES):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info(
            "gateway started",
            grpc=self.grpc_target,
            webhook=logs.redact_url(self.webhook_url),  # a public URL may carry user:password@
            embedded=self.emulator is not None,
        )

    def reload(self) -> None:
        """SIGHUP: re-read certificates (at the next handshake) and the auth file now."""
        if self.tls is not None:
            self.tls.reload()
        if self.auth is not None:
            self.auth.refresh(force=True)

    async def _start_webhook(self, ingestor: Ingestor, stack: contextlib.AsyncExitStack) -> None:
        settings = self.settings
        if not settings.auth_token:
            # Twilio signs callbacks with the account's auth token; an API key cannot verify them.
            log.warning("webhook disabled: set TWILIO_AUTH_TOKEN so callback signatures can be verified")
            return
        verifier = SignatureVerifier([settings.auth_token], public_url=settings.webhook_public_url)
        self.webhook = WebhookHandler(verifier, ingestor, max_body=settings.webhook_max_body)
        app = create_webhook_app(self.webhook, settings.webhook_path)
        # shutdown_timeout: in-flight callbacks get the same grace as RPCs (aiohttp's default is 60 s).
        self._webhook_runner = web.AppRunner(
            app, shutdown_timeout=settings.shutdown_grace_seconds, **runner_options()  # type: ignore[arg-type]
        )
        await self._webhook_runner.setup()
        stack.push_async_callback(self._stop_webhook)
        site = web.TCPSite(self._webhook_runner, settings.webhook_host, settings.webhook_port)
        try:
            await site.start()
        except OSError as exc:
            where = f"{settings.webhook_host}:{settings.webhook_port}"
            raise StartupError(f"cannot listen on {where} for the event webhook: {exc.strerror}") from None
        self.webhook_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        # Signatures are checked against the URL Twilio was given: the configured public URL, else the one
        # we listen on (and register). Never the Host header, which the caller chooses. No await since the
        # site started, so no request has been seen yet.
        self.webhook.verifier = SignatureVerifier([settings.auth_token], public_url=self.webhook_url)

    @property
    def webhook_url(self) -> str:
        if self.settings.webhook_public_url:
            return self.settings.webhook_public_url
        return f"http://{self.settings.webhook_host}:{self.webhook_port}{self.settings.webhook_path}"

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
        each start step's teardown in reverse order. Calling it again does nothing."""
        self._grace = self.settings.shutdown_grace_seconds if grace is None else grace
        self.readiness.draining = True
        await self.health.enter_graceful_shutdown()
        await self._stack.aclose()
        log.info("gateway stopped")

    # -- teardowns, pushed by start() as each step succeeds ----------------------------------------------

    async def _stop_serving(self) -> None:
        # Streams first, so they end UNAVAILABLE with a resume cursor instead of being cut at the grace.
        await self._close_fanout()
        if self.server is not None:
            await self.server.stop(self._grace)
            self.server = None

    async def _close_fanout(self) -> None:
        if self.fanout is not None:
            await self.fanout.close(drain_timeout=max(self._grace, 0.1))

    async def _stop_webhook(self) -> None:
        if self._webhook_runner is not None:
            await self._webhook_runner.cleanup()
            self._webhook_runner = None

    async def _close_event_log(self) -> None:
        if self.event_log is not None:
            await self.event_log.close()
            self.event_log = None

    async def _close_upstream(self) -> None:
        if self.upstream is not None:
            await self.upstream.close()
            self.upstream = None

    async def _stop_emulator(self) -> None:
        if self.emulator is not None:
            await self.emulator.stop()
            self.emulator = None

    async def _stop_admin(self) -> None:
        if self.admin is not None:
            await self.admin.stop()
            self.admin = None

    def _shutdown_tracing(self) -> None:
        if self._owns_tracing:
            self.tracing.shutdown()  # flushes spans still queued for export

    async def wait_for_termination(self) -> None:
        if self.server is not None:
            await self.server.wait_for_termination()

    async def __aenter__(self) -> "Gateway":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
