"""The gRPC server as a component: its settings, and a grpc.aio server that serves for the `async with` block,
with health and reflection beside the API."""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from .settings_base import StartupError, check_port
from .tls import ReloadingServerCredentials, add_port


@dataclass(frozen=True)
class GrpcSettings:
    host: str = "127.0.0.1"
    port: int = 50051

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def validate(self) -> None:
        check_port("grpc_port", self.port)


def check_port_free(host: str, port: int, what: str) -> None:
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


class GrpcServer:
    """`register` adds the API's handlers; `grace` is read when the block ends, so a stop can shorten it."""

    def __init__(self, settings: GrpcSettings, register: Callable[[grpc.aio.Server], None],
                 service_names: Sequence[str], health: HealthServicer,
                 tls: ReloadingServerCredentials | None, grace: Callable[[], float]) -> None:
        self.settings = settings
        self._register = register
        self._service_names = tuple(service_names)
        self._health = health
        self._tls = tls
        self._grace = grace
        self.server: grpc.aio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> GrpcServer:
        # No interceptor: each handler logs its own line (rpc_logging); health and reflection go unlogged.
        server = grpc.aio.server()
        self._register(server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection(
            (*self._service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
             reflection.SERVICE_NAME),
            server,
        )
        try:
            self.port = add_port(server, self.settings.host, self.settings.address, self._tls)
        except RuntimeError:
            self.port = 0
        if self.port == 0:
            raise StartupError(f"cannot listen on {self.settings.address} for gRPC")
        await server.start()
        self.server = server
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.server is not None:
            await self.server.stop(self._grace())

    async def wait_for_termination(self) -> None:
        if self.server is not None:
            await self.server.wait_for_termination()
