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
    request = event_service_pb2.StreamEventsRequest(workspace_sid=workspace_sid, start_at_now=True).SerializeToString()
    if transport != "grpc":
        return await _subscribe_connect(mark, shared, url=target, workspace_sid=workspace_sid, subscribers=subscribers,
                                        marker=marker, warmup=warmup, seconds=seconds, codec=transport.split("+")[1])
    channels = [grpc.aio.insecure_channel(target) for _ in range(math.ceil(subscribers / STREAMS_PER_CHANNEL))]
    counts = [0] * subscribers
    messages = [0] * subscribers
    highest = array("q", [-1] * subscribers)
    received = [array("q", bytes(8 * record_until)) for _ in range(subscribers)] if record_until else []
    endings: dict[str, int] = {}
    live = 0

    async def run(k: int) -> None:
        nonlocal live
        call = channels[k // STREAMS_PER_CHANNEL].unary_stream(
            METHOD, request_serializer=None, response_deserializer=None
        )(request)
        try:
            async for message in call:
                indexes = event_indexes(message, marker)
                if counts[k] == 0:
                    live += 1
                    shared[agent.LIVE] = live
                counts[k] += len(indexes)
                messages[k] += 1
                for i in indexes:
                    if i > highest[k]:
                        highest[k] = i
                if record_until:
                    now = time.time_ns()
                    recorded = 0
                    for i in indexes:
                        if 0 <= i < record_until:
                            received[k][i] = now
                            recorded += 1
                    shared[agent.RECORDED] += recorded
            endings["ended"] = endings.get("ended", 0) + 1
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                name = exc.code().name
                endings[name] = endings.get(name, 0) + 1

    async def publish_progress() -> None:
        # The poster paces itself on the slowest subscriber; a min() over the list every 2 ms is cheap enough.
        while True:
            shared[agent.MIN_INDEX] = min(highest)
            await asyncio.sleep(0.002)

    for channel in channels:
        await channel.channel_ready()
    tasks = [asyncio.create_task(run(k)) for k in range(subscribers)]
    progress = asyncio.create_task(publish_progress())
    try:
        while live < subscribers:
            if endings:
                raise RuntimeError(f"streams ended before every one was live: {endings}")
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
        for channel in channels:
            await channel.close()
    return {
        "subscribers": subscribers,
        "delivered": delivered,
        "messages": sent_messages,
        "seconds": elapsed,
        "per_second": delivered / elapsed if elapsed else 0.0,
        "endings": endings,
        "received_ns": received,
    }



async def _subscribe_connect(
    mark: Mark, shared: Any, *, url: str, workspace_sid: str, subscribers: int, marker: bytes, warmup: float,
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
    counts = [0] * subscribers
    messages = [0] * subscribers
    highest = array("q", [-1] * subscribers)
    endings: dict[str, int] = {}
    live = 0
    connector = aiohttp.TCPConnector(limit=0)
    session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None))

    async def run(k: int) -> None:
        nonlocal live
        try:
            async with session.post(f"{url}{METHOD}", data=request, headers=headers) as response:
                seen = False
                while True:
                    flags, length = struct.unpack(">BI", await response.content.readexactly(5))
                    payload = await response.content.readexactly(length)
                    if flags & 0x02:
                        endings["ended"] = endings.get("ended", 0) + 1
                        return
                    if not seen:  # the empty first message: subscribed
                        seen = True
                        live += 1
                        shared[agent.LIVE] = live
                    found = indexes(payload)
                    counts[k] += len(found)
                    messages[k] += 1
                    for i in found:
                        if i > highest[k]:
                            highest[k] = i
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - counted as an ending, as a gRPC error is
            endings[type(exc).__name__] = endings.get(type(exc).__name__, 0) + 1

    async def publish_progress() -> None:
        while True:
            shared[agent.MIN_INDEX] = min(highest)
            await asyncio.sleep(0.002)

    tasks = [asyncio.create_task(run(k)) for k in range(subscribers)]
    progress = asyncio.create_task(publish_progress())
    try:
        while live < subscribers:
            if endings:
                raise RuntimeError(f"streams ended before every one was live: {endings}")
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
        await session.close()
    return {
        "subscribers": subscribers, "delivered": delivered, "messages": sent_messages, "seconds": elapsed,
        "per_second": delivered / elapsed if elapsed else 0.0, "endings": endings, "received_ns": [],
    }
