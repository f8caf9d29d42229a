"""A real gateway on 127.0.0.1:0 in front of the `emulator` fixture, reached through a real gRPC channel."""

from __future__ import annotations

from typing import AsyncIterator

import aiohttp
import grpc
import pytest

from natsutil import nats_single  # noqa: F401 - a session fixture: one nats-server for the JetStream log tests

from taskrouter_gateway.app import Gateway
from taskrouter_gateway.config import Settings


def settings_for(emulator, event_log_path, **overrides) -> Settings:
    cfg = emulator.config
    values = dict(
        grpc_port=0,
        webhook_port=0,
        event_log_path=str(event_log_path),
        backfill_on_start=False,
        account_sid=cfg.account_sid,
        auth_token=cfg.auth_token,
        taskrouter_base_url=emulator.base_url,
        api_base_url=emulator.base_url,
        shutdown_grace_seconds=1.0,
    )
    values.update(overrides)
    return Settings(**values).validate()


@pytest.fixture
async def make_gateway(emulator, tmp_path):
    """Starts gateways in front of the emulator with setting overrides; stops them all at teardown."""
    started: list[Gateway] = []

    async def make(**overrides) -> Gateway:
        overrides.setdefault("event_log_path", tmp_path / f"events-{len(started)}.sqlite3")
        gw = Gateway(settings_for(emulator, **overrides))
        await gw.start()
        started.append(gw)
        return gw

    yield make
    for gw in reversed(started):
        await gw.stop(0)


@pytest.fixture
async def gateway(make_gateway) -> Gateway:
    return await make_gateway()


@pytest.fixture
def ws(emulator) -> str:
    """The emulator's default workspace."""
    return emulator.config.default_workspace_sid


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def channel(gateway: Gateway) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(gateway.grpc_target) as ch:
        yield ch


class EmulatorAdmin:
    """The emulator's admin API, for tests that count upstream requests or inject faults."""

    def __init__(self, http, base_url: str) -> None:
        self._http = http
        self._base = base_url

    async def requests_seen(self) -> int:
        """How many API requests the emulator has answered (its fault injector counts every one)."""
        async with self._http.get(f"{self._base}/admin/faults") as resp:
            assert resp.status == 200
            return (await resp.json())["requests_seen"]

    async def add_rest_fault(self, **rule) -> dict:
        async with self._http.post(f"{self._base}/admin/faults/rest", json=rule) as resp:
            assert resp.status == 201, await resp.text()
            return await resp.json()

    async def faults(self) -> dict:
        async with self._http.get(f"{self._base}/admin/faults") as resp:
            return await resp.json()


@pytest.fixture
def emulator_admin(emulator, emulator_http) -> EmulatorAdmin:
    return EmulatorAdmin(emulator_http, emulator.base_url)


@pytest.fixture
async def connect_gateway(make_gateway, emulator) -> Gateway:
    """A gateway with its Connect port (connect/) on 127.0.0.1:0 beside the gRPC one; the emulator's default
    workspace sends its events to the gateway's webhook."""
    from taskrouter.gateway.v1 import event_service_pb2, event_service_pb2_grpc

    gateway = await make_gateway(http_port=0)
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        await event_service_pb2_grpc.EventServiceStub(channel).ConfigureEventCallback(
            event_service_pb2.ConfigureEventCallbackRequest(workspace_sid=emulator.config.default_workspace_sid))
    return gateway
