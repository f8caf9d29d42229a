"""The subscriber side of the fan-out runs: N StreamEvents streams in one load process.

Messages stay raw bytes (no deserializer): each event's callback index is read from its Sid with one
bytes.find (see callbacks.py), the same cost against the gateway and against the bare stream server.
A delivery is one event; a message may hold several.
Run inside a LoadAgent (see agent.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from array import array
from typing import Any

import grpc

from taskrouter.gateway.v1 import event_service_pb2

from . import agent
from .callbacks import event_indexes
from .window import Mark

METHOD = "/taskrouter.gateway.v1.EventService/StreamEvents"
STREAMS_PER_CHANNEL = 100


class _Tally:
    """What the subscribers received, shared by both transports: events per subscriber, messages, the highest
    callback index each has seen (the poster paces itself on the slowest), and how streams ended."""

    def __init__(self, shared: Any, subscribers: int, record_until: int) -> None:
        self.shared = shared
        self.counts = [0] * subscribers
        self.messages = [0] * subscribers
        self.seen = bytearray(subscribers)
        self.highest = array("q", [-1] * subscribers)
        self.record_until = record_until
        self.received = [array("q", bytes(8 * record_until)) for _ in range(subscribers)] if record_until else []
        self.endings: dict[str, int] = {}
        self.live = 0

    def message(self, k: int, indexes: list[int]) -> None:
        if not self.seen[k]:  # the first message, of events or (Connect) the empty "subscribed" one
            self.seen[k] = 1
            self.live += 1
            self.shared[agent.LIVE] = self.live
        self.counts[k] += len(indexes)
        self.messages[k] += 1
        highest = self.highest
        for i in indexes:
            if i > highest[k]:
                highest[k] = i
        if self.record_until:
            now = time.time_ns()
            recorded = 0
            for i in indexes:
                if 0 <= i < self.record_until:
                    self.received[k][i] = now
                    recorded += 1
            self.shared[agent.RECORDED] += recorded

    def ended(self, how: str) -> None:
        self.endings[how] = self.endings.get(how, 0) + 1


async def _measure(mark: Mark, shared: Any, tally: _Tally, tasks: list[asyncio.Task[None]], warmup: float,
                   seconds: float) -> dict[str, object]:
    """Waits until every stream is live, measures the window, runs until told to stop, then ends the tasks."""

    async def publish_progress() -> None:
        # The poster paces itself on the slowest subscriber; a min() over the list every 2 ms is cheap enough.
        while True:
            shared[agent.MIN_INDEX] = min(tally.highest)
            await asyncio.sleep(0.002)

    progress = asyncio.create_task(publish_progress())
    counts, messages = tally.counts, tally.messages
    try:
        while tally.live < len(counts):
            if tally.endings:
                raise RuntimeError(f"streams ended before every one was live: {tally.endings}")
            await asyncio.sleep(0.005)
        mark("live")
        delivered = elapsed = 0.0
        sent_messages = 0
        if seconds > 0:
            await asyncio.sleep(warmup)
            before, before_messages, t0 = sum(counts), sum(messages), time.perf_counter()
            mark("start")
            await asyncio.sleep(seconds)
            delivered, elapsed = sum(counts) - before, time.perf_counter() - t0
            sent_messages = sum(messages) - before_messages
            mark("end")
        while not shared[agent.STOP_SUBSCRIBERS]:
            await asyncio.sleep(0.005)
    finally:
        progress.cancel()
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, progress, return_exceptions=True)
    return {
        "subscribers": len(counts),
        "delivered": delivered,
        "messages": sent_messages,
        "seconds": elapsed,
        "per_second": delivered / elapsed if elapsed else 0.0,
        "endings": tally.endings,
        "received_ns": tally.received,
    }


async def subscribe(
    mark: Mark, shared: Any, *, target: str, workspace_sid: str, subscribers: int, marker: bytes, warmup: float,
    seconds: float, record_until: int = 0, transport: str = "grpc",
) -> dict[str, object]:
    """Opens `subscribers` streams (start_at_now), waits until each has received a message, then measures.

    transport: "grpc" (target host:port), or "connect+proto" / "connect+json" (target the Connect port's URL):
    the same StreamEvents over the Connect protocol, one HTTP/1.1 connection per stream as a browser makes.

    Marks: "live" (every stream has a message), "start" and "end" (the window, after `warmup`; skipped when
    seconds == 0). Then runs until the parent sets shared[STOP_SUBSCRIBERS].
    record_until > 0: also keeps each subscriber's receive time (time.time_ns) of callbacks 0..record_until-1.
    """
    tally = _Tally(shared, subscribers, record_until)
    if transport != "grpc":
        return await _subscribe_connect(mark, shared, tally, url=target, workspace_sid=workspace_sid, marker=marker,
                                        warmup=warmup, seconds=seconds, codec=transport.split("+")[1])
    request = event_service_pb2.StreamEventsRequest(workspace_sid=workspace_sid, start_at_now=True).SerializeToString()
    channels = [grpc.aio.insecure_channel(target) for _ in range(math.ceil(subscribers / STREAMS_PER_CHANNEL))]

    async def run(k: int) -> None:
        call = channels[k // STREAMS_PER_CHANNEL].unary_stream(
            METHOD, request_serializer=None, response_deserializer=None
        )(request)
        try:
            async for message in call:
                tally.message(k, event_indexes(message, marker))
            tally.ended("ended")
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                tally.ended(exc.code().name)

    for channel in channels:
        await channel.channel_ready()
    try:
        return await _measure(mark, shared, tally, [asyncio.create_task(run(k)) for k in range(subscribers)],
                              warmup, seconds)
    finally:
        for channel in channels:
            await channel.close()


async def _subscribe_connect(
    mark: Mark, shared: Any, tally: _Tally, *, url: str, workspace_sid: str, marker: bytes, warmup: float,
    seconds: float, codec: str,
) -> dict[str, object]:
    """subscribe() over the Connect protocol. Each envelope is read whole; events are counted by their Sids
    (binary: event_indexes, as for gRPC; JSON: each event's "sid":"<marker>... key)."""
    import json
    import struct

    import aiohttp

    if codec == "json":
        body = json.dumps({"workspaceSid": workspace_sid, "startAtNow": True}).encode()
        json_marker = b'"sid":"' + marker

        def indexes(payload: bytes) -> list[int]:
            out, at = [], payload.find(json_marker)
            while at >= 0:
                start = at + len(json_marker)
                out.append(int(payload[start:start + 24], 16))
                at = payload.find(json_marker, start)
            return out
    else:
        body = event_service_pb2.StreamEventsRequest(workspace_sid=workspace_sid, start_at_now=True).SerializeToString()

        def indexes(payload: bytes) -> list[int]:  # noqa: F811
            return event_indexes(payload, marker)
    request = struct.pack(">BI", 0, len(body)) + body
    headers = {"content-type": f"application/connect+{codec}"}
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=None))

    async def run(k: int) -> None:
        try:
            async with session.post(f"{url}{METHOD}", data=request, headers=headers) as response:
                while True:
                    flags, length = struct.unpack(">BI", await response.content.readexactly(5))
                    payload = await response.content.readexactly(length)
                    if flags & 0x02:  # the end of the stream
                        tally.ended("ended")
                        return
                    tally.message(k, indexes(payload))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - counted as an ending, as a gRPC error is
            tally.ended(type(exc).__name__)

    try:
        return await _measure(mark, shared, tally, [asyncio.create_task(run(k)) for k in range(len(tally.counts))],
                              warmup, seconds)
    finally:
        await session.close()
