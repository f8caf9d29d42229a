"""StreamEvents under load: 1,000 concurrent subscribers over real gRPC, each event serialized once.

A memory bound, not a timing: every subscriber must receive every event, the server's RSS must stay within a
ceiling, and each event must be encoded once however many subscribers there are. The subscribers run in
their own process (stream_subscribers.py), so the RSS measured is the server's alone.
"""

from __future__ import annotations

import asyncio
import gc
import sys
from pathlib import Path

import grpc
import orjson
import psutil
import pytest

from taskrouter.gateway.v1 import event_pb2, event_service_pb2
from taskrouter_gateway.eventlog.log import NewEvent
from taskrouter_gateway.eventlog.sqlite.log import SqliteEventLog
from taskrouter_gateway.pipeline import Pipeline
from taskrouter_gateway.services.event_stream import EventStreamer
from taskrouter_gateway.stream import fanout as fanout_module
from taskrouter_gateway.stream.fanout import FanOut

from stream_subscribers import SERVICE, WS, make_event

SUBSCRIBERS_SCRIPT = Path(__file__).with_name("stream_subscribers.py")
SUBSCRIBERS = 1000
EVENTS = 200
CHANNELS = 4
RSS_CEILING_BYTES = 100 * 1024 * 1024  # the server side alone
WAIT = 45.0  # upper bound only; reaching it means the fan-out lost events


@pytest.fixture
async def server_and_fanout(tmp_path):
    log = SqliteEventLog(tmp_path / "events.db", synchronous="NORMAL")
    await log.open()
    fanout = FanOut(log, render=lambda stored: event_pb2.Event.FromString(stored.payload))
    await fanout.start()
    server = grpc.aio.server()
    # The error mapping is the pipeline's: a bare one (no auth, metrics, logs) around the stream alone.
    handler = Pipeline().method_handler(f"/{SERVICE}/StreamEvents", grpc.unary_stream_rpc_method_handler(
        EventStreamer(log, fanout).StreamEvents,
        request_deserializer=event_service_pb2.StreamEventsRequest.FromString,  # responses: the fan-out's bytes
    ))
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
    real_encode = fanout_module.encode_piece

    def counting_encode(payload: bytes, cursor: str) -> bytes:
        nonlocal builds
        builds += 1
        return real_encode(payload, cursor)

    monkeypatch.setattr(fanout_module, "encode_piece", counting_encode)
    gc.collect()
    process = psutil.Process()
    baseline = peak = process.memory_info().rss

    clients = await asyncio.create_subprocess_exec(
        sys.executable, str(SUBSCRIBERS_SCRIPT), target, log.log_id, str(SUBSCRIBERS), str(EVENTS), str(CHANNELS),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        await asyncio.wait_for(fanout.wait_until(lambda c: c.live == SUBSCRIBERS), WAIT)
        peak = max(peak, process.memory_info().rss)
        events = [make_event(n) for n in range(EVENTS)]
        for start in range(0, EVENTS, 20):
            await log.append([
                NewEvent(sid=e.sid, workspace_sid=WS, event_type=e.event_type, resource_sid=e.resource_sid,
                         event_date_ms=e.event_date_ms, payload=e.SerializeToString())
                for e in events[start:start + 20]
            ])
            fanout.notify()
            peak = max(peak, process.memory_info().rss)
        while fanout.counters.delivered < SUBSCRIBERS * EVENTS:
            await asyncio.wait_for(fanout.wait_until(lambda c, d=fanout.counters.delivered: c.delivered > d), WAIT)
            peak = max(peak, process.memory_info().rss)
        out, _ = await asyncio.wait_for(clients.communicate(), WAIT)
    finally:
        if clients.returncode is None:
            clients.kill()
            await clients.wait()

    assert clients.returncode == 0
    assert orjson.loads(out)["matched"] == [EVENTS] * SUBSCRIBERS  # every event, intact and in order

    counters = fanout.counters
    assert counters.published == EVENTS
    assert counters.delivered == SUBSCRIBERS * EVENTS
    assert counters.messages <= counters.delivered
    assert counters.overflowed == 0
    assert builds == EVENTS == counters.frames_built  # serialized once per event, not per subscriber
    assert peak - baseline < RSS_CEILING_BYTES, f"RSS grew by {(peak - baseline) / 2**20:.0f} MiB"
    await asyncio.wait_for(fanout.wait_until(lambda c: c.subscribers == 0), WAIT)
