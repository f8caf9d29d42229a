"""EventService.StreamEvents: validate the request, then relay the fan-out's pre-serialized messages.

EventService registers it with no response serializer (@rpc(prebuilt=True)): each yielded item is already the
complete wire encoding of a StreamEventsResponse, built once per event and shared by every subscriber.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncGenerator
from typing import Final

import grpc
from google.protobuf import timestamp_pb2

from taskrouter.gateway.v1 import event_service_pb2

from .. import errors
from ..eventlog.log import EventLog, EventLogError
from ..stream.cursor import InvalidCursor, decode_cursor, encode_cursor
from ..stream.fanout import FanOut, FanOutClosed, LogUnreadable, PositionLost, SubscriberTooSlow, SubscriptionEnded
from ..stream.filters import EventFilter
from ..validation import Checker, InvalidArgument

METHOD: Final = "StreamEvents"
_MIN_TIMESTAMP_SECONDS: Final = -62_135_596_800  # 0001-01-01T00:00:00Z, google.protobuf.Timestamp's range
_MAX_TIMESTAMP_SECONDS: Final = 253_402_300_799  # 9999-12-31T23:59:59Z


# -- how a stream ends when it cannot go on (errors.STATUS_TABLE holds the codes) ---------------------------


def _log_unavailable(resume_cursor: str | None) -> errors.StreamEnded:
    metadata = {"resume_cursor": resume_cursor} if resume_cursor else {}
    text = "the event log cannot be read right now; retry" + ("; resume from your cursor" if resume_cursor else "")
    return errors.StreamEnded("event_log_unavailable", text, metadata)


def _cursor_expired(oldest_cursor: str) -> errors.StreamEnded:
    return errors.StreamEnded(
        "cursor_expired",
        "events after this cursor were removed by retention; resume with `since` or from the oldest retained event",
        {"oldest_cursor": oldest_cursor},
    )


def _ended(exc: SubscriptionEnded, resume_cursor: str) -> errors.StreamEnded | None:
    """What the fan-out's end of a subscription tells the client; None for one not foreseen here (a bug)."""
    if isinstance(exc, SubscriberTooSlow):
        return errors.StreamEnded("subscriber_too_slow", str(exc), {"resume_cursor": resume_cursor})
    if isinstance(exc, FanOutClosed):
        return errors.StreamEnded("shutting_down", str(exc), {"resume_cursor": resume_cursor})
    if isinstance(exc, LogUnreadable):
        return _log_unavailable(resume_cursor)
    if isinstance(exc, PositionLost):
        return _cursor_expired(resume_cursor)
    return None


# -- start position ---------------------------------------------------------------------------------


def _since_ms(since: timestamp_pb2.Timestamp, checker: Checker) -> int:
    if not 0 <= since.nanos <= 999_999_999:
        checker.fail("since", f"nanos must be in 0..999999999, got {since.nanos}")
        return 0
    if not _MIN_TIMESTAMP_SECONDS <= since.seconds <= _MAX_TIMESTAMP_SECONDS:
        checker.fail("since", "must be between 0001-01-01 and 9999-12-31")
        return 0
    # Rounded up: an event dated at whole milliseconds is "at or after" `since` only if not before it.
    return max(0, math.ceil((since.seconds * 1_000_000_000 + since.nanos) / 1_000_000))


class EventStreamer:
    """Serves StreamEvents from a FanOut over an EventLog (the same log the fan-out tails)."""

    def __init__(self, log: EventLog, fanout: FanOut) -> None:
        self._log = log
        self._fanout = fanout

    async def _validate(self, request: event_service_pb2.StreamEventsRequest) -> tuple[EventFilter, int]:
        """(filter, seq to stream after). Raises InvalidArgument listing every bad field, or StreamEnded."""
        checker = Checker()
        event_filter: EventFilter | None = None
        try:
            event_filter = EventFilter.from_request(request)
        except InvalidArgument as exc:
            checker.violations.extend(exc.violations)

        position = request.WhichOneof("start_position")
        cursor_seq = since_ms = None
        if position == "start_at_now" and not request.start_at_now:
            checker.fail("start_at_now", "must be true when chosen (or leave start_position unset)")
        elif position == "after_cursor":
            try:
                cursor_seq = decode_cursor(request.after_cursor, self._log.log_id)
            except InvalidCursor as exc:
                checker.fail("after_cursor", str(exc))
        elif position == "since":
            since_ms = _since_ms(request.since, checker)
        checker.done()
        assert event_filter is not None

        if cursor_seq is not None:
            if cursor_seq > await self._log.last_seq():
                raise InvalidArgument([("after_cursor", "points past the end of this event log")])
            first_seq = await self._log.first_seq()
            if cursor_seq + 1 < first_seq:
                raise _cursor_expired(encode_cursor(self._log.log_id, first_seq - 1))
            return event_filter, cursor_seq
        if since_ms is not None:
            return event_filter, await self._log.seq_at_or_after(since_ms)
        return event_filter, await self._log.last_seq()

    async def StreamEvents(
        self, request: event_service_pb2.StreamEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncGenerator[bytes, None]:
        """Ends by raising: the pipeline maps InvalidArgument, StreamEnded and anything unforeseen to the
        status the client gets."""
        try:
            event_filter, after_seq = await self._validate(request)
        except EventLogError as exc:
            raise _log_unavailable(None) from exc

        # Readiness: the start position is fixed (after_seq), so every event committed from now on reaches this
        # stream (the subscription replays the log after after_seq). Send the headers now, with no event to
        # carry them, so a client can wait for "subscribed" instead of sleeping before it acts.
        await context.send_initial_metadata(())
        try:
            # aclosing: if this generator is cancelled while suspended at its own yield, the subscription
            # still ends (and unsubscribes) now rather than whenever the inner generator is collected.
            async with contextlib.aclosing(self._fanout.subscribe(event_filter, after_seq)) as frames:
                async for frame in frames:
                    yield frame
        except SubscriptionEnded as exc:
            ended = _ended(exc, encode_cursor(self._log.log_id, exc.resume_seq))
            if ended is None:
                raise
            raise ended from exc


__all__ = ["EventStreamer", "METHOD"]
