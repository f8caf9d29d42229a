"""StreamEvents under load: 1,000 concurrent subscribers over real gRPC, each event serialized once.

A memory bound, not a timing: every subscriber must receive every event, RSS must stay within a generous
ceiling, and the response bytes must be built once per event however many subscribers there are.
"""

from __future__ import annotations

import asyncio
import gc

import grpc
import psutil
import pytest

from taskrouter.gateway.v1 import event_pb2, event_service_pb2
from taskrouter_gateway.events import fanout as fanout_module
from taskrouter_gateway.events.cursor import encode_cursor
from taskrouter_gateway.events.fanout import FanOut
from taskrouter_gateway.events.log import NewEvent
from taskrouter_gateway.events.sqlite_log import SqliteEventLog
from taskrouter_gateway.services.event_stream import EventStreamer, stream_method_handler

SERVICE = "taskrouter.gateway.v1.EventService"
METHOD = f"/{SERVICE}/StreamEvents"
WS = "WS" + "a" * 32
SUBSCRIBERS = 1000
EVENTS = 200
CHANNELS = 4
RSS_CEILING_BYTES = 150 * 1024 * 1024
WAIT = 45.0  # upper bound only; reaching it means the fan-out lost events


def make_event(n: int) -> event_pb2.Event:
    return event_pb2.Event(
        sid=f"EV{n:032x}", workspace_sid=WS, event_type="worker.activity.update",
        resource_sid=f"WK{n % 7:032x}", event_date_ms=1_700_000_000_000 + n,
        worker=event_pb2.WorkerData(worker_sid=f"WK{n % 7:032x}", worker_activity_name="Available"),
        description="Worker changed activity " + "x" * 200,
    )


@pytest.fixture
async def server_and_fanout(tmp_path):
    log = SqliteEventLog(tmp_path / "events.db", synchronous="NORMAL")
    await log.open()
    fanout = FanOut(log)
    await fanout.start()
    server = grpc.aio.server()
    handler = stream_method_handler(EventStreamer(log, fanout))
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, {"StreamEvents": handler})])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}", log, fanout
    finally:
        await fanout.close(drain_timeout=1.0)
        await server.stop(0)
        await log.close()


@pytest.mark.slow
async def test_thousand_subscribers_each_get_every_event_serialized_once(server_and_fanout, monkeypatch):
    target, log, fanout = server_and_fanout
    builds = 0
    real_encode = fanout_module.encode_response

    def counting_encode(payload: bytes, cursor: str) -> bytes:
        nonlocal builds
        builds += 1
        return real_encode(payload, cursor)

    monkeypatch.setattr(fanout_module, "encode_response", counting_encode)

    channels = [grpc.aio.insecure_channel(target) for _ in range(CHANNELS)]
    # Raw bytes on the client too: the test checks delivery, and 200,000 parses would only slow it down.
    stream_calls = [
        ch.unary_stream(METHOD, request_serializer=event_service_pb2.StreamEventsRequest.SerializeToString,
                        response_deserializer=None)
        for ch in channels
    ]
    gc.collect()
    process = psutil.Process()
    baseline = process.memory_info().rss
    peak = baseline

    # What every subscriber must receive, encoded independently by protobuf (the log is fresh: seqs 1..200).
    events = [make_event(n) for n in range(EVENTS)]
    expected = [
        event_service_pb2.StreamEventsResponse(event=e, cursor=encode_cursor(log.log_id, n + 1)).SerializeToString()
        for n, e in enumerate(events)
    ]

    async def subscriber(i: int) -> int:
        """How many messages matched the expected ones, in order (stops at the first mismatch)."""
        call = stream_calls[i % CHANNELS](event_service_pb2.StreamEventsRequest(workspace_sid=WS))
        matched = 0
        while matched < EVENTS:
            message = await call.read()
            if message is grpc.aio.EOF or message != expected[matched]:
                break
            matched += 1
        call.cancel()
        return matched

    try:
        tasks = [asyncio.create_task(subscriber(i)) for i in range(SUBSCRIBERS)]
        await asyncio.wait_for(fanout.wait_until(lambda c: c.live == SUBSCRIBERS), WAIT)
        for start in range(0, EVENTS, 20):
            await log.append([
                NewEvent(sid=e.sid, workspace_sid=WS, event_type=e.event_type, resource_sid=e.resource_sid,
                         event_date_ms=e.event_date_ms, payload=e.SerializeToString())
                for e in events[start:start + 20]
            ])
            fanout.notify()
            peak = max(peak, process.memory_info().rss)
        results = await asyncio.wait_for(asyncio.gather(*tasks), WAIT)
        peak = max(peak, process.memory_info().rss)
    finally:
        for ch in channels:
            await ch.close()

    assert results == [EVENTS] * SUBSCRIBERS  # every subscriber got every event, intact and in order

    counters = fanout.counters
    assert counters.published == EVENTS
    assert counters.delivered == SUBSCRIBERS * EVENTS
    assert counters.overflowed == 0
    assert builds == EVENTS == counters.frames_built  # serialized once per event, not per subscriber
    assert peak - baseline < RSS_CEILING_BYTES, f"RSS grew by {(peak - baseline) / 2**20:.0f} MiB"
    await asyncio.wait_for(fanout.wait_until(lambda c: c.subscribers == 0), WAIT)
