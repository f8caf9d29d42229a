"""Operations: health, reflection, per-RPC logs without secrets or PII, graceful drain on stop."""

from __future__ import annotations

import asyncio
import json

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from taskrouter.gateway.v1 import worker_service_pb2 as w, worker_service_pb2_grpc
from taskrouter_gateway import logs


async def test_health_and_reflection(channel):
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "taskrouter.gateway.v1.WorkerService", "taskrouter.gateway.v1.ActivityService"):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)

    async def requests():
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    async for reply in stub.ServerReflectionInfo(requests()):
        names = {s.name for s in reply.list_services_response.service}
        break
    assert {
        "taskrouter.gateway.v1.WorkerService",
        "taskrouter.gateway.v1.ActivityService",
        "taskrouter.gateway.v1.WorkspaceService",
        "grpc.health.v1.Health",
    } <= names


async def test_rpc_log_line_has_method_request_id_upstream_status_and_no_pii(channel, emulator, capsys):
    logs.configure(log_format="json", level="info", redact_pii=True)
    stub = worker_service_pb2_grpc.WorkerServiceStub(channel)
    ws = emulator.config.default_workspace_sid
    made = await stub.CreateWorker(
        w.CreateWorkerRequest(workspace_sid=ws, friendly_name="Zelda Secretname", attributes='{"ssn": "123-45-6789"}'),
        metadata=(("x-request-id", "req-42"),),
    )
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.GetWorker(w.GetWorkerRequest(workspace_sid=ws, sid="WK" + "0" * 32))
    await stub.GetWorker(w.GetWorkerRequest(workspace_sid=ws, sid=made.sid))
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    rpc_lines = [line for line in lines if line.get("event") == "rpc"]
    create = next(line for line in rpc_lines if line["rpc_method"].endswith("/CreateWorker"))
    assert create["request_id"] == "req-42" and create["code"] == "OK"
    assert create["upstream_status"] == 201 and create["upstream_ms"] >= 0
    missing = next(line for line in rpc_lines if line["code"] == "NOT_FOUND")
    assert missing["upstream_status"] == 404 and len(missing["request_id"]) == 32
    assert "Secretname" not in err and "123-45-6789" not in err
    assert emulator.config.auth_token not in err


def test_redaction_of_secrets_and_pii(capsys):
    logs.configure(log_format="json", level="info", redact_pii=True)
    import structlog

    structlog.get_logger().info(
        "x", auth_token="tok", worker_attributes='{"a":1}', friendly_name="Bob", WorkerName="Bob", nested={"description": "d"}
    )
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["auth_token"] == line["worker_attributes"] == line["friendly_name"] == line["WorkerName"] == "[redacted]"
    assert line["nested"]["description"] == "[redacted]"
    logs.configure(log_format="json", level="info", redact_pii=False)
    structlog.get_logger().info("x", auth_token="tok", friendly_name="Bob")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["auth_token"] == "[redacted]" and line["friendly_name"] == "Bob"


async def test_stop_drains_in_flight_rpcs(make_gateway, emulator, emulator_admin):
    gw = await make_gateway()
    ws = emulator.config.default_workspace_sid
    async with grpc.aio.insecure_channel(gw.grpc_target) as ch:
        stub = worker_service_pb2_grpc.WorkerServiceStub(ch)
        made = await stub.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="Drain"))
        rule = await emulator_admin.add_rest_fault(
            path=f"/v1/Workspaces/{ws}/Workers/{made.sid}", method="GET", latency_ms=800
        )
        call = asyncio.ensure_future(stub.GetWorker(w.GetWorkerRequest(workspace_sid=ws, sid=made.sid), timeout=20))

        async def upstream_reached() -> None:
            while True:
                rules = (await emulator_admin.faults())["rest"]
                if next(r for r in rules if r["id"] == rule["id"])["seen"] >= 1:
                    return
                await asyncio.sleep(0.01)

        await asyncio.wait_for(upstream_reached(), 10)
        stopping = asyncio.ensure_future(gw.stop(grace=10))
        reply = await call  # the in-flight RPC completes despite the stop
        assert reply.sid == made.sid
        await stopping
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetWorker(w.GetWorkerRequest(workspace_sid=ws, sid=made.sid), timeout=2)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
