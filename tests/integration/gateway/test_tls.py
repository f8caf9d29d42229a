"""TLS and mutual TLS on the gRPC port, with certificates minted here and real channels on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os

import grpc
import pytest
from gateway_certs import TestCA
from taskrouter.gateway.v1 import (
    event_service_pb2 as e,
)
from taskrouter.gateway.v1 import (
    event_service_pb2_grpc,
    worker_service_pb2_grpc,
    workspace_service_pb2_grpc,
)
from taskrouter.gateway.v1 import (
    worker_service_pb2 as w,
)
from taskrouter.gateway.v1 import (
    workspace_service_pb2 as ws_pb,
)
from taskrouter_gateway.config import ConfigError, Settings


@pytest.fixture
def pki(tmp_path):
    ca = TestCA()
    (tmp_path / "ca.crt").write_bytes(ca.cert_pem)
    server_cert, server_key = ca.issue("gateway", server=True).write(tmp_path, "server")
    return ca, tmp_path, server_cert, server_key


def tls_channel(target: str, ca_pem: bytes, client=None) -> grpc.aio.Channel:
    creds = grpc.ssl_channel_credentials(
        root_certificates=ca_pem,
        private_key=client.key_pem if client else None,
        certificate_chain=client.cert_pem if client else None,
    )
    return grpc.aio.secure_channel(target, creds)


async def get_workspace(channel: grpc.aio.Channel, sid: str) -> ws_pb.Workspace:
    stub = workspace_service_pb2_grpc.WorkspaceServiceStub(channel)
    return await stub.GetWorkspace(ws_pb.GetWorkspaceRequest(workspace_sid=sid), timeout=5)


async def test_tls_serves_and_refuses_plaintext(make_gateway, pki, emulator):
    ca, _, cert, key = pki
    gateway = await make_gateway(tls_cert=str(cert), tls_key=str(key))
    sid = emulator.config.default_workspace_sid
    async with tls_channel(gateway.grpc_target, ca.cert_pem) as channel:
        assert (await get_workspace(channel, sid)).sid == sid
    async with grpc.aio.insecure_channel(gateway.grpc_target) as plain:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await get_workspace(plain, sid)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_mtls_refuses_a_client_without_a_certificate(make_gateway, pki, emulator):
    ca, tmp, cert, key = pki
    gateway = await make_gateway(tls_cert=str(cert), tls_key=str(key), tls_client_ca=str(tmp / "ca.crt"))
    sid = emulator.config.default_workspace_sid
    async with tls_channel(gateway.grpc_target, ca.cert_pem) as anonymous:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await get_workspace(anonymous, sid)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    # A certificate from another CA is refused as well.
    stranger = TestCA("someone else").issue("billing")
    async with tls_channel(gateway.grpc_target, ca.cert_pem, stranger) as foreign:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await get_workspace(foreign, sid)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    async with tls_channel(gateway.grpc_target, ca.cert_pem, ca.issue("billing")) as known:
        assert (await get_workspace(known, sid)).sid == sid


async def test_rotated_certificate_is_served_without_restart_and_open_streams_survive(make_gateway, pki, emulator):
    ca, tmp, cert, key = pki
    gateway = await make_gateway(tls_cert=str(cert), tls_key=str(key), tls_client_ca=str(tmp / "ca.crt"))
    sid = emulator.config.default_workspace_sid
    client = ca.issue("events-reader")
    async with tls_channel(gateway.grpc_target, ca.cert_pem, client) as old:
        events = event_service_pb2_grpc.EventServiceStub(old)
        await events.ConfigureEventCallback(e.ConfigureEventCallbackRequest(workspace_sid=sid), timeout=10)
        stream = events.StreamEvents(e.StreamEventsRequest(workspace_sid=sid, event_types=["worker.created"]))
        await asyncio.wait_for(gateway.fanout.wait_until(lambda c: c.subscribers == 1), 10)

        # Rotate to a certificate from a new CA (clients that trust only the new CA tell the two apart).
        new_ca = TestCA("rotated CA")
        rotated = new_ca.issue("gateway", server=True)
        # Write to temporary names and rename, as cert-manager and friends do; the key first.
        for data, target in ((rotated.key_pem, key), (rotated.cert_pem, cert)):
            tmp_file = target.with_suffix(".tmp")
            tmp_file.write_bytes(data)
            os.replace(tmp_file, target)
        async with tls_channel(gateway.grpc_target, new_ca.cert_pem, client) as fresh:
            assert (await get_workspace(fresh, sid)).sid == sid
        assert gateway.tls is not None and gateway.tls.reloads == 1
        async with tls_channel(gateway.grpc_target, ca.cert_pem, client) as stale:
            with pytest.raises(grpc.aio.AioRpcError):
                await get_workspace(stale, sid)

        # The stream opened before the rotation still delivers.
        workers = worker_service_pb2_grpc.WorkerServiceStub(old)
        created = await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=sid, friendly_name="Rotated"), timeout=10)
        message = await asyncio.wait_for(stream.read(), 10)
        assert [item.event.resource_sid for item in message.events] == [created.sid]
        stream.cancel()


async def test_a_broken_rotation_keeps_the_previous_certificate(make_gateway, pki, emulator):
    ca, _, cert, key = pki
    gateway = await make_gateway(tls_cert=str(cert), tls_key=str(key))
    other = ca.issue("gateway", server=True)
    cert.write_bytes(other.cert_pem)  # the key no longer matches
    gateway.reload()
    async with tls_channel(gateway.grpc_target, ca.cert_pem) as channel:
        sid = emulator.config.default_workspace_sid
        assert (await get_workspace(channel, sid)).sid == sid
    assert gateway.tls is not None and gateway.tls.reloads == 0


def test_tls_settings_must_come_in_pairs():
    with pytest.raises(ConfigError, match="tls_cert and tls_key"):
        Settings(tls_cert="a.crt").validate()
    with pytest.raises(ConfigError, match="tls_client_ca"):
        Settings(tls_client_ca="ca.crt").validate()


async def test_plaintext_on_a_public_address_warns(make_gateway, capsys):
    from taskrouter_gateway import logs

    logs.configure("json", "info")
    await make_gateway(grpc_host="0.0.0.0")
    assert "plaintext on a non-loopback address" in capsys.readouterr().err
