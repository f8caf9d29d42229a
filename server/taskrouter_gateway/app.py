"""The gateway's lifecycle: upstream session -> (event log -> webhook) -> gRPC server; stop in reverse."""

from __future__ import annotations

import asyncio
import dataclasses
import functools

import grpc
import structlog
from aiohttp import web
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from taskrouter.gateway.v1 import (
    call_event_service_pb2,
    call_event_service_pb2_grpc,
    event_service_pb2,
    statistics_service_pb2,
    statistics_service_pb2_grpc,
    activity_service_pb2,
    activity_service_pb2_grpc,
    worker_service_pb2,
    worker_service_pb2_grpc,
    workspace_service_pb2,
    workspace_service_pb2_grpc,
)

from . import embedded
from .config import Settings
from .events import records
from .events.backfill import Backfiller
from .events.fanout import FanOut
from .events.ingest import Ingestor
from .events.log import DAY_MS, Retention, run_retention
from .events.signature import SignatureVerifier
from .events.sqlite_log import SqliteEventLog
from .events.webhook import WebhookHandler, create_webhook_app
from .services.activities import ActivityService
from .services.call_events import CallEventService
from .services.event_stream import EventStreamer
from .services.events import EventService, event_service_handler
from .services.routing import ROUTING_SERVICERS, ROUTING_SERVICES
from .services.statistics import StatisticsService
from .services.workers import WorkerService
from .services.workspaces import WorkspaceService
from .translate.workspaces import event_callback_call
from .upstream import Credentials, RetryPolicy, UpstreamClient

log = structlog.get_logger("taskrouter_gateway")

SERVICE_NAMES = (
    activity_service_pb2.DESCRIPTOR.services_by_name["ActivityService"].full_name,
    worker_service_pb2.DESCRIPTOR.services_by_name["WorkerService"].full_name,
    workspace_service_pb2.DESCRIPTOR.services_by_name["WorkspaceService"].full_name,
    event_service_pb2.DESCRIPTOR.services_by_name["EventService"].full_name,
    call_event_service_pb2.DESCRIPTOR.services_by_name["CallEventService"].full_name,
    *(service.full_name for service in ROUTING_SERVICES),
    statistics_service_pb2.DESCRIPTOR.services_by_name["StatisticsService"].full_name,
)


def _credentials(settings: Settings) -> Credentials:
    assert settings.account_sid
    if settings.api_key and settings.api_secret:
        return Credentials.from_api_key(settings.account_sid, settings.api_key, settings.api_secret)
    assert settings.auth_token
    return Credentials.from_auth_token(settings.account_sid, settings.auth_token)


class Gateway:
    """One running gateway. `await start()`, then `await stop()`; usable as an async context manager."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.emulator: embedded.EmbeddedUpstream | None = None
        self.upstream: UpstreamClient | None = None
        self.health = HealthServicer()
        self.server: grpc.aio.Server | None = None
        self.grpc_port: int = 0
        self.event_log: SqliteEventLog | None = None
        self.fanout: FanOut | None = None
        self.backfiller: Backfiller | None = None
        self.webhook: WebhookHandler | None = None
        self.webhook_port: int = 0
        self._webhook_runner: web.AppRunner | None = None
        self._retention_task: asyncio.Task[None] | None = None
        self._backfill_task: asyncio.Task[None] | None = None

    @property
    def grpc_target(self) -> str:
        return f"{self.settings.grpc_host}:{self.grpc_port}"

    @property
    def default_workspace_sid(self) -> str | None:
        return self.emulator.default_workspace_sid if self.emulator else None

    async def start(self) -> None:
        """upstream session -> event log -> fan-out -> webhook -> gRPC server; then wiring and backfill."""
        settings = self.settings
        if settings.embedded:
            self.emulator = await embedded.start(settings)
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
        )
        await self.upstream.start()

        self.event_log = SqliteEventLog(
            settings.event_log_path,
            synchronous=settings.event_log_sync,  # type: ignore[arg-type]
            retention=Retention(
                max_age_ms=settings.event_retention_days * DAY_MS,
                max_bytes=settings.event_log_max_mb * 1024 * 1024 or None,
            ),
        )
        await self.event_log.open()
        self._retention_task = asyncio.create_task(run_retention(self.event_log, 3600.0), name="event-retention")
        # URLs in events point where the REST API lives, so webhook and backfilled events agree.
        render = functools.partial(records.to_event, base_url=settings.taskrouter_base_url)
        self.fanout = FanOut(self.event_log, render=render, buffer_size=settings.subscriber_buffer)
        await self.fanout.start()
        ingestor = Ingestor(self.event_log, self.fanout)
        self.backfiller = Backfiller(self.upstream, self.event_log, ingestor)

        await self._start_webhook(ingestor)

        # No interceptor: each handler logs its own line (rpc_logging); health and reflection go unlogged.
        server = grpc.aio.server()
        activity_service_pb2_grpc.add_ActivityServiceServicer_to_server(ActivityService(self.upstream), server)
        worker_service_pb2_grpc.add_WorkerServiceServicer_to_server(WorkerService(self.upstream), server)
        workspace_service_pb2_grpc.add_WorkspaceServiceServicer_to_server(WorkspaceService(self.upstream), server)
        call_event_service_pb2_grpc.add_CallEventServiceServicer_to_server(CallEventService(self.upstream), server)
        for add, servicer in ROUTING_SERVICERS:
            add(servicer(self.upstream), server)
        statistics_service_pb2_grpc.add_StatisticsServiceServicer_to_server(StatisticsService(self.upstream), server)
        server.add_generic_rpc_handlers(
            (
                event_service_handler(
                    EventService(self.upstream, self.backfiller, self.webhook_url),
                    EventStreamer(self.event_log, self.fanout),
                ),
            )
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
            server,
        )
        self.grpc_port = server.add_insecure_port(settings.grpc_address)
        if self.grpc_port == 0:
            raise OSError(f"cannot bind gRPC address {settings.grpc_address}")
        await server.start()
        self.server = server

        if self.emulator is not None:
            await self._wire_embedded_callbacks()
        if settings.backfill_on_start:
            self._backfill_task = asyncio.create_task(self._backfill_on_start(), name="startup-backfill")
        for name in ("", *SERVICE_NAMES):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("gateway started", grpc=self.grpc_target, webhook=self.webhook_url, embedded=self.emulator is not None)

    async def _start_webhook(self, ingestor: Ingestor) -> None:
        settings = self.settings
        if not settings.auth_token:
            # Twilio signs callbacks with the account's auth token; an API key cannot verify them.
            log.warning("webhook disabled: set TWILIO_AUTH_TOKEN so callback signatures can be verified")
            return
        verifier = SignatureVerifier([settings.auth_token], public_url=settings.webhook_public_url)
        self.webhook = WebhookHandler(verifier, ingestor, max_body=settings.webhook_max_body)
        app = create_webhook_app(self.webhook, settings.webhook_path)
        self._webhook_runner = web.AppRunner(app, access_log=None)
        await self._webhook_runner.setup()
        site = web.TCPSite(self._webhook_runner, settings.webhook_host, settings.webhook_port)
        await site.start()
        self.webhook_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

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
        """Health NOT_SERVING first; streams end UNAVAILABLE; unary RPCs drain for `grace`; then the rest."""
        grace = self.settings.shutdown_grace_seconds if grace is None else grace
        await self.health.enter_graceful_shutdown()
        for task in (self._backfill_task, self._retention_task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self.fanout is not None:
            await self.fanout.close(drain_timeout=max(grace, 0.1))
        if self.server is not None:
            await self.server.stop(grace)
            self.server = None
        if self._webhook_runner is not None:
            await self._webhook_runner.cleanup()
            self._webhook_runner = None
        if self.event_log is not None:
            await self.event_log.close()
            self.event_log = None
        if self.upstream is not None:
            await self.upstream.close()
            self.upstream = None
        if self.emulator is not None:
            await self.emulator.stop()
            self.emulator = None
        log.info("gateway stopped")

    async def wait_for_termination(self) -> None:
        if self.server is not None:
            await self.server.wait_for_termination()

    async def __aenter__(self) -> "Gateway":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
