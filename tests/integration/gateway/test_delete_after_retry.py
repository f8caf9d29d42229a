"""A DELETE retried after a connection error that then answers 404: the first attempt's
request was sent before the connection broke, so it most likely did the delete; the call answers OK. Any
other 404 is NOT_FOUND, and other methods keep their 404. A real gateway (gRPC) and a real UpstreamClient in
front of a scripted upstream that drops the first connection."""

from __future__ import annotations

import random

import grpc
import pytest
from gateway_upstream_scripted import (  # noqa: F401  (fixtures)
    ACCOUNT_SID,
    AUTH_TOKEN,
    DISCONNECT,
    WORKERS,
    WORKSPACE,
    FakeTime,
    Reply,
    ScriptedUpstream,
    fake_time,
    refused_port,
    twilio_error,
    upstream,
)

from taskrouter.gateway.v1 import task_service_pb2 as t
from taskrouter.gateway.v1 import task_service_pb2_grpc
from taskrouter.gateway.v1 import worker_service_pb2 as w
from taskrouter.gateway.v1 import worker_service_pb2_grpc
from taskrouter_gateway.upstream import Credentials, RetryPolicy, UpstreamClient, UpstreamError

WK = "WK" + "2" * 32
WT = "WT" + "3" * 32
WORKER = f"{WORKERS}/{WK}"
TASK = f"/v1/Workspaces/{WORKSPACE}/Tasks/{WT}"
NOT_FOUND = twilio_error(404, 20404, "The requested resource was not found")


@pytest.fixture
async def stubs(make_gateway, upstream: ScriptedUpstream):
    gateway = await make_gateway(taskrouter_base_url=upstream.base_url, api_base_url=upstream.base_url)
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        yield worker_service_pb2_grpc.WorkerServiceStub(channel), task_service_pb2_grpc.TaskServiceStub(channel)


async def test_a_delete_whose_retry_finds_nothing_was_done_by_the_first_attempt(stubs, upstream):
    workers, tasks = stubs
    upstream.script("DELETE", WORKER, DISCONNECT, NOT_FOUND)
    await workers.DeleteWorker(w.DeleteWorkerRequest(workspace_sid=WORKSPACE, sid=WK), timeout=10)
    assert len(upstream.seen("DELETE", WORKER)) == 2
    upstream.script("DELETE", TASK, DISCONNECT, DISCONNECT, NOT_FOUND)
    await tasks.DeleteTask(t.DeleteTaskRequest(workspace_sid=WORKSPACE, sid=WT), timeout=10)
    assert len(upstream.seen("DELETE", TASK)) == 3


async def test_a_404_without_an_earlier_broken_attempt_is_not_found(stubs, upstream):
    workers, _ = stubs
    upstream.script("DELETE", WORKER, NOT_FOUND)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await workers.DeleteWorker(w.DeleteWorkerRequest(workspace_sid=WORKSPACE, sid=WK), timeout=10)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    # A retry after a 503 (answered: the request was refused, nothing done) that finds nothing: NOT_FOUND.
    upstream.script("DELETE", WORKER, twilio_error(503, 20503, "Service Unavailable"), NOT_FOUND)
    with pytest.raises(grpc.aio.AioRpcError) as after_503:
        await workers.DeleteWorker(w.DeleteWorkerRequest(workspace_sid=WORKSPACE, sid=WK), timeout=10)
    assert after_503.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_get_keeps_its_404_after_a_broken_attempt(upstream: ScriptedUpstream, fake_time: FakeTime):
    upstream.script("GET", WORKER, DISCONNECT, NOT_FOUND)
    upstream.script("DELETE", WORKER, DISCONNECT, Reply(status=204))
    client = UpstreamClient(Credentials.from_auth_token(ACCOUNT_SID, AUTH_TOKEN),
                            taskrouter_base_url=upstream.base_url, retry_policy=RetryPolicy(),
                            rng=random.Random(1), sleep=fake_time.sleep, clock=fake_time.clock)
    async with client:
        with pytest.raises(UpstreamError) as caught:
            await client.get(WORKER, deadline=fake_time.clock() + 30)
        assert caught.value.status == 404
        # A retried DELETE that succeeds outright is an ordinary success.
        done = await client.delete(WORKER, deadline=fake_time.clock() + 30)
        assert done.status == 204


async def test_a_refused_connect_sent_nothing_so_the_retry_404_is_not_found(fake_time: FakeTime):
    """The first attempt's connect is refused (no request left the client); the upstream comes up during the
    back-off, and its 404 is the truth: NOT_FOUND."""
    port = refused_port()
    server = ScriptedUpstream()
    server.script("DELETE", WORKER, NOT_FOUND)

    async def sleep_then_start(seconds: float) -> None:
        await fake_time.sleep(seconds)
        if not server.base_url:
            await server.start_on(port)

    client = UpstreamClient(Credentials.from_auth_token(ACCOUNT_SID, AUTH_TOKEN),
                            taskrouter_base_url=f"http://127.0.0.1:{port}", retry_policy=RetryPolicy(),
                            rng=random.Random(1), sleep=sleep_then_start, clock=fake_time.clock)
    try:
        async with client:
            with pytest.raises(UpstreamError) as caught:
                await client.delete(WORKER, deadline=fake_time.clock() + 30)
        assert caught.value.status == 404
        assert len(server.seen("DELETE", WORKER)) == 1 and len(fake_time.waits) == 1
    finally:
        await server.close()
