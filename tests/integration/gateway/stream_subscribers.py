"""The client side of the StreamEvents load test, run as its own process so the test measures the server's
memory alone: N subscribers, each checking that it receives every expected event, intact and in order.

    python stream_subscribers.py TARGET LOG_ID SUBSCRIBERS EVENTS CHANNELS

Prints one JSON line: {"matched": [events matched per subscriber]}.
"""

from __future__ import annotations

import asyncio
import sys

import grpc
import orjson

from taskrouter.gateway.v1 import event_pb2, event_service_pb2
from taskrouter_gateway.stream.cursor import encode_cursor

SERVICE = "taskrouter.gateway.v1.EventService"
METHOD = f"/{SERVICE}/StreamEvents"
WS = "WS" + "a" * 32


def make_event(n: int) -> event_pb2.Event:
    return event_pb2.Event(
        sid=f"EV{n:032x}", workspace_sid=WS, event_type="worker.activity.update",
        resource_sid=f"WK{n % 7:032x}", event_date_ms=1_700_000_000_000 + n,
        worker=event_pb2.WorkerData(worker_sid=f"WK{n % 7:032x}", worker_activity_name="Available"),
        description="Worker changed activity " + "x" * 200,
    )


def expected_pieces(log_id: str, events: int) -> list[bytes]:
    """Each event as a one-event message, encoded by protobuf itself; a message of several is their join."""
    return [
        event_service_pb2.StreamEventsResponse(
            events=[event_service_pb2.StreamedEvent(event=make_event(n), cursor=encode_cursor(log_id, n + 1))]
        ).SerializeToString()
        for n in range(events)
    ]


async def run(target: str, log_id: str, subscribers: int, events: int, channel_count: int) -> list[int]:
    expected = expected_pieces(log_id, events)
    channels = [grpc.aio.insecure_channel(target) for _ in range(channel_count)]
    # Raw bytes: the check is byte equality, and 200,000 parses would only slow it down.
    calls = [
        ch.unary_stream(METHOD, request_serializer=event_service_pb2.StreamEventsRequest.SerializeToString,
                        response_deserializer=None)
        for ch in channels
    ]

    async def subscriber(i: int) -> int:
        """How many events matched, in order (stops at the first mismatch or at the end of the stream)."""
        call = calls[i % channel_count](event_service_pb2.StreamEventsRequest(workspace_sid=WS))
        matched = 0
        while matched < events:
            message = await call.read()
            if message is grpc.aio.EOF:
                break
            at = 0
            while matched < events and message.startswith(expected[matched], at):
                at += len(expected[matched])
                matched += 1
            if at != len(message):
                break
        call.cancel()
        return matched

    try:
        return list(await asyncio.gather(*(subscriber(i) for i in range(subscribers))))
    finally:
        for ch in channels:
            await ch.close()


def main() -> None:
    target, log_id, subscribers, events, channels = sys.argv[1:6]
    matched = asyncio.run(run(target, log_id, int(subscribers), int(events), int(channels)))
    sys.stdout.write(orjson.dumps({"matched": matched}).decode() + "\n")


if __name__ == "__main__":
    main()
