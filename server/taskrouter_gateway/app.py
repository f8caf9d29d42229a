"""The gateway's lifecycle: upstream session -> (event log -> webhook) -> gRPC server; stop in reverse."""

from __future__ import annotations

import dataclasses

import grpc
import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from taskrouter.gateway.v1 import (
    activity_service_pb2,
    activity_service_pb2_grpc,
    worker_service_pb2,
    worker_service_pb2_grpc,
    workspace_service_pb2,
    workspace_service_pb2_grpc,
)

from . import embedded
from .config import Settings
from .interceptors import LoggingInterceptor
from .services.activities import ActivityService
from .services.workers import WorkerService
from .services.workspaces import WorkspaceService
from .upstream import Credentials, RetryPolicy, UpstreamClient

log = structlog.get_logger("taskrouter_gateway")

SERVICE_NAMES = (
    activity_service_pb2.DESCRIPTOR.services_by_name["ActivityService"].full_name,
    worker_service_pb2.DESCRIPTOR.services_by_name["WorkerService"].full_name,
    workspace_service_pb2.DESCRIPTOR.services_by_name["WorkspaceService"].full_name,
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

    @property
    def grpc_target(self) -> str:
        return f"{self.settings.grpc_host}:{self.grpc_port}"

    @property
    def default_workspace_sid(self) -> str | None:
        return self.emulator.default_workspace_sid if self.emulator else None

    async def start(self) -> None:
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

        server = grpc.aio.server(interceptors=[LoggingInterceptor()])
        activity_service_pb2_grpc.add_ActivityServiceServicer_to_server(ActivityService(self.upstream), server)
        worker_service_pb2_grpc.add_WorkerServiceServicer_to_server(WorkerService(self.upstream), server)
        workspace_service_pb2_grpc.add_WorkspaceServiceServicer_to_server(WorkspaceService(self.upstream), server)
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
        for name in ("", *SERVICE_NAMES):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("gateway started", grpc=self.grpc_target, embedded=self.emulator is not None)

    async def stop(self, grace: float | None = None) -> None:
        """Health flips to NOT_SERVING first, in-flight RPCs drain for `grace` seconds, then the rest closes."""
        grace = self.settings.shutdown_grace_seconds if grace is None else grace
        await self.health.enter_graceful_shutdown()
        if self.server is not None:
            await self.server.stop(grace)
            self.server = None
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
