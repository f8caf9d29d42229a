"""taskrouter_gateway_client against a probe gRPC server: the shipped retry policy, the bearer token, and
error decoding on sync and asyncio errors."""

from __future__ import annotations

import asyncio
import json

import grpc
import pytest
from google.rpc import error_details_pb2
from taskrouter.gateway.v1 import (
    event_service_pb2 as e,
)
from taskrouter.gateway.v1 import (
    event_service_pb2_grpc,
    worker_service_pb2_grpc,
)
from taskrouter.gateway.v1 import (
    worker_service_pb2 as w,
)
from taskrouter_gateway_client import (
    aio_channel,
    bad_request_from,
    channel,
    error_info_from,
    retry_delay_from,
    service_config,
)

WS = "WS" + "a" * 32


def test_the_shipped_config_is_json_with_a_retry_policy():
    config = json.loads(service_config())
    assert config["methodConfig"][0]["retryPolicy"]["maxAttempts"] >= 2


async def test_an_idempotent_method_is_retried_by_default_and_a_create_is_not(probe):
    probe.failures = 1
    async with aio_channel(probe.target) as ch:
        stub = worker_service_pb2_grpc.WorkerServiceStub(ch)
        got = await stub.GetWorker(w.GetWorkerRequest(workspace_sid=WS, sid="WK1"), timeout=10)
        assert got.sid == "WK1" and probe.calls["GetWorker"] == 2
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateWorker(w.CreateWorkerRequest(workspace_sid=WS, friendly_name="x"), timeout=10)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE and probe.calls["CreateWorker"] == 1


async def test_retries_stop_at_max_attempts_and_can_be_turned_off(probe):
    probe.failures = 100
    attempts = json.loads(service_config())["methodConfig"][0]["retryPolicy"]["maxAttempts"]
    async with aio_channel(probe.target) as ch:
        with pytest.raises(grpc.aio.AioRpcError):
            await worker_service_pb2_grpc.WorkerServiceStub(ch).GetWorker(w.GetWorkerRequest(sid="a"), timeout=30)
    assert probe.calls["GetWorker"] == attempts
    async with aio_channel(probe.target, retry=False) as ch:
        with pytest.raises(grpc.aio.AioRpcError):
            await worker_service_pb2_grpc.WorkerServiceStub(ch).GetWorker(w.GetWorkerRequest(sid="a"), timeout=10)
    assert probe.calls["GetWorker"] == attempts + 1


async def test_the_sync_channel_retries_too(probe):
    probe.failures = 1

    def call() -> str:
        with channel(probe.target) as ch:
            return worker_service_pb2_grpc.WorkerServiceStub(ch).GetWorker(w.GetWorkerRequest(sid="s"), timeout=10).sid

    assert await asyncio.to_thread(call) == "s"
    assert probe.calls["GetWorker"] == 2


async def test_a_token_travels_as_bearer_metadata_on_unary_and_stream_calls(probe):
    async with aio_channel(probe.target, token="s3cret") as ch:
        await worker_service_pb2_grpc.WorkerServiceStub(ch).GetWorker(w.GetWorkerRequest(sid="a"), timeout=10)
        stream = event_service_pb2_grpc.EventServiceStub(ch).StreamEvents(e.StreamEventsRequest(), timeout=10)
        assert [m.events[0].cursor async for m in stream] == ["c1"]

    def sync_calls() -> None:
        with channel(probe.target, token="sync-token") as ch:
            worker_service_pb2_grpc.WorkerServiceStub(ch).GetWorker(w.GetWorkerRequest(sid="b"), timeout=10)
            list(event_service_pb2_grpc.EventServiceStub(ch).StreamEvents(e.StreamEventsRequest(), timeout=10))

    await asyncio.to_thread(sync_calls)
    assert [m.get("authorization") for m in probe.metadata] == ["Bearer s3cret"] * 2 + ["Bearer sync-token"] * 2
    async with aio_channel(probe.target) as ch:
        await worker_service_pb2_grpc.WorkerServiceStub(ch).GetWorker(w.GetWorkerRequest(sid="a"), timeout=10)
    assert "authorization" not in probe.metadata[-1]


async def test_error_details_decode_from_sync_and_aio_errors(probe):
    async with aio_channel(probe.target) as ch:
        stub = worker_service_pb2_grpc.WorkerServiceStub(ch)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateWorker(w.CreateWorkerRequest(friendly_name="bad"), timeout=10)
        aio_error = caught.value
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateWorker(w.CreateWorkerRequest(friendly_name="later"), timeout=10)
        later = caught.value

    def sync_error() -> grpc.RpcError:
        with channel(probe.target) as ch:
            try:
                worker_service_pb2_grpc.WorkerServiceStub(ch).CreateWorker(
                    w.CreateWorkerRequest(friendly_name="bad"), timeout=10)
            except grpc.RpcError as err:
                return err
        raise AssertionError("no error")

    for err in (aio_error, await asyncio.to_thread(sync_error)):
        info, bad = error_info_from(err)
        assert info.reason == "INVALID_ARGUMENT" and info.domain == "taskrouter.twilio.com"
        assert isinstance(bad, error_details_pb2.BadRequest)
        assert [v.field for v in bad_request_from(err).field_violations] == ["friendly_name"]
        assert retry_delay_from(err) is None
    info, bad = error_info_from(later)
    assert info.metadata["twilio_code"] == "20429" and bad is None
    assert retry_delay_from(later) == 1.5
