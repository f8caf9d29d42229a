"""Retries, rate limits and deadlines, end to end: gRPC client -> gateway -> emulator with injected faults."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from aiohttp import web

from taskrouter.gateway.v1 import worker_service_pb2 as w, worker_service_pb2_grpc
from taskrouter_gateway.errors import error_info_from, retry_delay_from


@pytest.fixture
def workers(channel):
    return worker_service_pb2_grpc.WorkerServiceStub(channel)


@pytest.fixture
def ws(emulator) -> str:
    return emulator.config.default_workspace_sid


async def test_get_hit_by_429s_is_retried_then_succeeds(workers, ws, emulator_admin):
    made = await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="Retry"))
    rule = await emulator_admin.add_rest_fault(
        path=f"/v1/Workspaces/{ws}/Workers/{made.sid}", method="GET", status=429, retry_after=0, count=2
    )
    before = await emulator_admin.requests_seen()
    got = await workers.GetWorker(w.GetWorkerRequest(workspace_sid=ws, sid=made.sid), timeout=10)
    assert got.sid == made.sid
    assert await emulator_admin.requests_seen() - before == 3  # two 429s, then the success
    rules = (await emulator_admin.faults())["rest"]
    assert [r for r in rules if r["id"] == rule["id"]][0]["injected"] == 2


async def test_post_hit_by_429_is_not_retried(workers, ws, emulator_admin):
    await emulator_admin.add_rest_fault(path=f"/v1/Workspaces/{ws}/Workers", match="exact", method="POST",
                                        status=429, retry_after=3, count=1)
    before = await emulator_admin.requests_seen()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="Once"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert await emulator_admin.requests_seen() - before == 1
    info, _ = error_info_from(caught.value)
    assert info.metadata["twilio_code"] == "20429"
    assert retry_delay_from(caught.value) == 3
    # Nothing was created by the refused write.
    page = await workers.ListWorkers(w.ListWorkersRequest(workspace_sid=ws, friendly_name="Once"))
    assert list(page.workers) == []


async def test_5xx_exhausting_retries_is_unavailable(workers, ws, emulator_admin):
    made = await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="Down"))
    await emulator_admin.add_rest_fault(path=f"/v1/Workspaces/{ws}/Workers/{made.sid}", method="GET", status=503)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await workers.GetWorker(w.GetWorkerRequest(workspace_sid=ws, sid=made.sid), timeout=3)
    # Retried until the deadline, then the real failure, not DEADLINE_EXCEEDED.
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_short_deadline_with_slow_emulator_is_deadline_exceeded(workers, ws, emulator_admin):
    made = await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="Slow"))
    await emulator_admin.add_rest_fault(path=f"/v1/Workspaces/{ws}/Workers/{made.sid}", method="GET", latency_ms=5000)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await workers.GetWorker(w.GetWorkerRequest(workspace_sid=ws, sid=made.sid), timeout=0.3)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


async def test_deadline_cancels_the_upstream_request(make_gateway):
    """A slow upstream that notices its client leaving: the gateway must hang up when the deadline passes."""
    entered, cancelled = asyncio.Event(), asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        entered.set()
        try:
            await asyncio.Event().wait()  # never answers on its own
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return web.Response()

    app = web.Application()
    app.router.add_get("/v1/Workspaces/{ws}/Workers/{sid}", slow)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    gw = await make_gateway(taskrouter_base_url=f"http://127.0.0.1:{port}")
    try:
        async with grpc.aio.insecure_channel(gw.grpc_target) as ch:
            stub = worker_service_pb2_grpc.WorkerServiceStub(ch)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.GetWorker(w.GetWorkerRequest(workspace_sid="WS" + "a" * 32, sid="WK" + "b" * 32), timeout=0.5)
            assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert entered.is_set()
            await asyncio.wait_for(cancelled.wait(), timeout=10)
    finally:
        await runner.cleanup()


async def test_wrong_credentials_are_unauthenticated(emulator, make_gateway):
    gw = await make_gateway(auth_token="wrong-token")
    async with grpc.aio.insecure_channel(gw.grpc_target) as ch:
        stub = worker_service_pb2_grpc.WorkerServiceStub(ch)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ListWorkers(w.ListWorkersRequest(workspace_sid=emulator.config.default_workspace_sid))
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        info, _ = error_info_from(caught.value)
        assert info.metadata["twilio_code"] == "20003"
