"""A replica paused for longer than the stream keeps events (SIGSTOP, a long GC pause, a partition) finds the
stream moved on without it. It must not stall: it resumes from what the stream still holds, ends the streams
that needed the lost events with OUT_OF_RANGE, counts the gap, and is not ready until it has caught up."""

from __future__ import annotations

import asyncio
import itertools
import signal
import time

import aiohttp
import grpc
import nats
from google.protobuf import timestamp_pb2
from natsutil import NatsCluster, free_port
from replicas import WS, Replica, Subscriber, callback, post

from taskrouter.gateway.v1 import event_service_pb2 as e
from taskrouter_gateway.errors import error_info_from
from taskrouter_gateway.stream.cursor import encode_cursor

_names = itertools.count()


def _large(i: int) -> dict[str, str]:
    return {**callback(i), "EventDescription": f"event {i} " + "x" * 30_000}


async def _until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)  # polling a process's output for a condition


async def test_a_paused_replica_that_lost_events_to_retention_recovers_without_restarting(
    nats_single: NatsCluster,
) -> None:
    stream = f"GAP{next(_names)}x{time.monotonic_ns() % 100_000}"
    small = {"TASKROUTER_GATEWAY_EVENT_LOG_MAX_MB": "1"}  # about 1,500 callbacks, then the oldest go
    admin = free_port()
    a = await Replica(nats_single, stream, replicas=1, log_level="info",
                      env={**small, "TASKROUTER_GATEWAY_ADMIN_PORT": str(admin),
                           "TASKROUTER_GATEWAY_SUBSCRIBER_BUFFER": "100000"}).start().ready()  # never too slow here
    b = await Replica(nats_single, stream, replicas=1, env=small).start().ready()
    nc = await nats.connect(nats_single.urls)
    sub = None
    try:
        async with aiohttp.ClientSession() as http:
            assert [await post(http, b, callback(i)) for i in range(10)] == [204] * 10
            sub = Subscriber(a.target, e.StreamEventsRequest(workspace_sid=WS, since=timestamp_pb2.Timestamp()))
            await sub.wait_for(lambda: len(sub.items) == 10)
            position = (await nc.jsm().stream_info(stream)).state.last_seq

            a.process.send_signal(signal.SIGSTOP)
            try:
                # Large callbacks, so what the paused process's socket buffers can hold is soon exceeded and the
                # events it never read leave the (1 MB) stream.
                sent = 10
                while (await nc.jsm().stream_info(stream)).state.first_seq <= position + 1 + 1000:
                    statuses = await asyncio.gather(*(post(http, b, _large(sent + i)) for i in range(100)))
                    assert set(statuses) == {204}
                    sent += 100
            finally:
                a.process.send_signal(signal.SIGCONT)

            # The subscriber on A needed events that are gone: told so, with where to resume, not left hanging.
            await sub.wait_for(lambda: sub.ended is not None, 60)
            assert isinstance(sub.ended, grpc.aio.AioRpcError)
            assert sub.ended.code() == grpc.StatusCode.OUT_OF_RANGE, sub.ended.details()
            assert "retention" in (sub.ended.details() or "")
            assert len(sub.items) < sent  # it did not silently skip ahead

            # Not ready from the gap until caught up; then ready, with the gap counted.
            def events() -> list[str]:
                return [line.get("event", "") for line in a.json_lines()]

            await _until(lambda: "event_log.caught_up" in events(), 60, "A to catch up")
            assert events().index("event_log.gap") < events().index("event_log.caught_up")
            gap = next(line for line in a.json_lines() if line.get("event") == "event_log.gap")
            # What it had already buffered before the pause was read; the rest is gone, and said to be.
            assert position < gap["first_lost"] <= gap["last_lost"] < sent
            async with http.get(f"http://127.0.0.1:{admin}/readyz") as resp:
                assert resp.status == 200, await resp.text()

            # The status names where to resume: right after the last event the gap lost, i.e. the oldest held.
            info, _ = error_info_from(sub.ended)
            log_id = next(line["log_id"] for line in a.json_lines() if line.get("event") == "event_log.opened")
            assert info.reason == "STREAM_CURSOR_EXPIRED"
            assert info.metadata["oldest_cursor"] == encode_cursor(log_id, gap["last_lost"])
            # Nothing is appended from here until the end of this block, so the stream's bounds stay put.
            held = (await nc.jsm().stream_info(stream)).state
            resume = info.metadata["oldest_cursor"]
            if held.first_seq > gap["last_lost"] + 1:
                # A later gap moved the oldest on after this subscriber ended: the resume is refused the same
                # way, naming the oldest event held now.
                refused = Subscriber(a.target, e.StreamEventsRequest(workspace_sid=WS, after_cursor=resume))
                await refused.wait_for(lambda: refused.ended is not None)
                assert isinstance(refused.ended, grpc.aio.AioRpcError)
                assert refused.ended.code() == grpc.StatusCode.OUT_OF_RANGE, refused.ended.details()
                resume = error_info_from(refused.ended)[0].metadata["oldest_cursor"]
                assert resume == encode_cursor(log_id, held.first_seq - 1)
                await refused.close()
            resumed = Subscriber(a.target, e.StreamEventsRequest(workspace_sid=WS, after_cursor=resume))
            await resumed.wait_for(lambda: len(resumed.items) >= held.last_seq - held.first_seq + 1)
            assert [cursor for _, cursor in resumed.items] == [
                encode_cursor(log_id, seq) for seq in range(held.first_seq, held.last_seq + 1)]
            await resumed.close()
            async with http.get(f"http://127.0.0.1:{admin}/metrics") as resp:
                text = await resp.text()
            # Counted once per gap the replica reported (its consumer may meet more than one while catching up).
            gaps = sum(1 for line in a.json_lines() if line.get("event") == "event_log.gap")
            assert gaps >= 1 and f"taskrouter_gateway_event_log_gaps_total {float(gaps)}" in text

            # A serves on: a new subscriber from the beginning gets what the stream still holds, and new events.
            again = Subscriber(a.target, e.StreamEventsRequest(workspace_sid=WS, since=timestamp_pb2.Timestamp()))
            info = (await nc.jsm().stream_info(stream)).state
            await again.wait_for(lambda: len(again.items) >= info.last_seq - info.first_seq + 1, 60)
            assert await post(http, b, callback(sent)) == 204
            await again.wait_for(lambda: len(again.items) >= info.last_seq - info.first_seq + 2, 60)
            await again.close()
    finally:
        if sub is not None:
            await sub.close()
        await nc.close()
        a.stop()
        b.stop()
