"""Fan-out of logged events to streaming subscribers: one tailer, bounded per-subscriber buffers.

New events reach the fan-out in seq order: handed over by the log right after each commit (when the log can),
else read back by the tailer. Each is rendered into its final wire bytes once, and only if some subscriber
of its workspace exists, then offered without awaiting to every matching subscriber's bounded buffer. A
subscriber replays the log from its start position first, then switches to its buffer: no gap, no duplicate.

Batching: a subscriber gets every event that is ready in one message (up to MAX_MESSAGE_BYTES), as
Pub/Sub's StreamingPull does. A subscriber whose previous message is still being written gets the events
that arrived meanwhile together, so a busy server sends fewer, larger messages instead of falling behind.
Each event's piece of the message is encoded once and shared: a message is a join of pieces.

Knows nothing of gRPC: a subscription ends with SubscriberTooSlow or FanOutClosed, which the servicer turns
into statuses.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Final, Protocol

from taskrouter.gateway.v1 import event_pb2

import structlog

from ..eventlog import records
from .cursor import encode_cursor
from .filters import EventFilter, EventRefs
from ..eventlog.log import EventLog, EventLogError, StoredEvent

_log = structlog.get_logger(__name__)

READ_RETRY_SECONDS: Final = 1.0  # after a failed log read, retry even without a new notify()
# Events are added to a message while it stays under this (one event always goes, whatever its size). A
# trade-off measured with 1,000 streams: messages over one HTTP/2 frame (16 KiB) cost RSS for the stream's
# life (101 MB at 8 KiB, 113 MB at 16 KiB, 139 MB at 32 KiB), while at 16,000 bytes 100 subscribers of
# 1,000 events/s fell behind and were cut off; at 32 KiB every event arrived.
MAX_MESSAGE_BYTES: Final = 32 * 1024

Render = Callable[[StoredEvent], event_pb2.Event]


class SubscriptionEnded(Exception):
    """The fan-out ended a subscription; `resume_seq` is the last seq it delivered (or its start)."""

    def __init__(self, message: str, resume_seq: int) -> None:
        super().__init__(message)
        self.resume_seq = resume_seq


class SubscriberTooSlow(SubscriptionEnded):
    """Its live buffer overflowed: it fell more than buffer_size matching events behind."""


class FanOutClosed(SubscriptionEnded):
    """The fan-out is shutting down."""


class LogUnreadable(SubscriptionEnded):
    """Replaying failed: the log raised EventLogError (chained as __cause__)."""


class PositionLost(SubscriptionEnded):
    """Events this subscription still needed were removed by retention before this replica read them;
    `resume_seq` is the last lost seq: resuming after it is resuming from the oldest event still held."""


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_piece(event_payload: bytes, cursor: str) -> bytes:
    """One entry of StreamEventsResponse.events (field 1), holding StreamedEvent{event, cursor}.

    Every field involved is length-delimited (wire type 2): tag, length, bytes. A repeated field's entries
    are simply concatenated, so a whole StreamEventsResponse is the join of its pieces.
    """
    cursor_bytes = cursor.encode("ascii")
    inner = b"".join(
        (b"\x0a", _varint(len(event_payload)), event_payload, b"\x12", _varint(len(cursor_bytes)), cursor_bytes)
    )
    return b"\x0a" + _varint(len(inner)) + inner


@dataclass(frozen=True, slots=True)
class Frame:
    """One event, ready for every subscriber: what filters look at and its piece of the wire message."""

    seq: int
    refs: EventRefs
    data: bytes


@dataclass(slots=True)
class FanOutCounters:
    subscribers: int = 0  # open subscriptions (replaying or live)
    live: int = 0  # of those, the ones reading their live buffer
    published: int = 0  # events the tailer offered to subscribers
    delivered: int = 0  # events handed to subscribers' streams (replay and live)
    messages: int = 0  # messages those events went out in
    overflowed: int = 0  # subscriptions ended because their live buffer overflowed
    rereads: int = 0  # replays extended because the buffer overflowed while catching up
    frames_built: int = 0  # events rendered and encoded (once each while in the recent-frames cache)
    unreadable: int = 0  # stored events that could not be rendered, skipped (and logged)
    position_lost: int = 0  # gaps the log reported (events removed before this replica read them)


_CATCHING_UP, _LIVE = 0, 1


class _Subscriber:
    __slots__ = ("filter", "buffer", "capacity", "phase", "dropped", "ended", "waiter", "position", "lost_until")

    def __init__(self, event_filter: EventFilter, capacity: int) -> None:
        self.filter = event_filter
        self.buffer: collections.deque[Frame] = collections.deque()
        self.capacity = capacity
        self.phase = _CATCHING_UP
        self.dropped = False  # the buffer overflowed while catching up: it has a gap
        self.ended: type[SubscriptionEnded] | None = None
        self.lost_until = 0  # for PositionLost: the last lost seq
        self.waiter: asyncio.Future[None] | None = None
        self.position = 0  # the seq replay has reached (for lag while catching up)

    def wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def offer(self, frame: Frame) -> bool:
        """Buffers the frame without waiting; False when this subscriber overflowed just now."""
        if self.ended is not None:
            return True
        if len(self.buffer) < self.capacity:
            self.buffer.append(frame)
            self.wake()
            return True
        self.buffer.clear()
        if self.phase == _CATCHING_UP:
            # Still replaying from the log, which holds these events too: note the gap, keep the subscriber.
            self.dropped = True
            return True
        self.ended = SubscriberTooSlow
        self.wake()
        return False


class PublishListener(Protocol):
    """Told of every event as it is published (in seq order), and of events lost before they were: the read
    cache ends answers by them (reads/). `refs` renders the event only if asked, once, shared with streams."""

    def on_event(self, workspace_sid: str, event_type: str, received_ms: int,
                 refs: Callable[[], EventRefs | None]) -> None: ...

    def on_gap(self) -> None: ...


class FanOut:
    """`await start()`, `notify()` after each durable append, `subscribe(...)` per stream, `await close()`."""

    def __init__(
        self,
        log: EventLog,
        *,
        render: Render = records.to_event,
        buffer_size: int = 1024,
        page_size: int = 500,
        recent_frames: int | None = None,
    ) -> None:
        if buffer_size < 1 or page_size < 1:
            raise ValueError("buffer_size and page_size must be >= 1")
        # The tailer offers a whole page without yielding: a page bigger than the buffer would overflow even
        # an idle, fully caught-up subscriber. Replays read page_size at a time.
        self._tail_page = min(page_size, buffer_size)
        self.log = log
        self._render = render
        self.buffer_size = buffer_size
        self.page_size = page_size
        self.counters = FanOutCounters()
        # Frames of recent events, shared by the tailer and replaying subscribers, so an event that both
        # see (a subscriber catching up while it is published) is still built once.
        self._recent: collections.OrderedDict[int, Frame] = collections.OrderedDict()
        self._recent_limit = recent_frames if recent_frames is not None else max(buffer_size, 2 * page_size)
        self._by_workspace: dict[str, set[_Subscriber]] = {}
        self._published_seq = 0
        self._wake = asyncio.Event()
        self._tailer: asyncio.Task[None] | None = None
        self._closed = False
        self._pushed = False  # the log hands over committed events: no read-back
        self._reading = False  # the tailer is between reads; pushed events wait for it
        self._watchers: list[asyncio.Future[None]] = []
        self._listeners: list[PublishListener] = []

    def add_listener(self, listener: PublishListener) -> None:
        self._listeners.append(listener)

    # -- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Publishes only events appended from now on; subscribers replay older ones from the log."""
        if self._tailer is not None:
            raise RuntimeError("FanOut already started")
        self._published_seq = await self.log.last_seq()
        self._pushed = self.log.add_commit_listener(self._on_commit)
        self.log.add_gap_listener(self._on_gap)
        self._tailer = asyncio.create_task(self._tail(), name="event-fanout-tailer")

    def notify(self) -> None:
        """New events are durable in the log. Never blocks; many calls coalesce into one read."""
        if not self._pushed:
            self._wake.set()

    def _on_commit(self, rows: list[StoredEvent]) -> None:
        if self._closed:
            return
        if self._reading or rows[0].seq != self._published_seq + 1:
            self._wake.set()  # out of step (the tailer is reading, or a hand-over was missed): read the log
            return
        for row in rows:
            self._publish(row)

    def _on_gap(self, first: int, last: int) -> None:
        """The log lost first..last before they were published: end every subscription that still needed
        them (all live ones, and replays not yet past them) rather than skip events silently."""
        if self._closed:
            return
        self.counters.position_lost += 1
        for subscribers in self._by_workspace.values():
            for sub in subscribers:
                position = self._published_seq if sub.phase == _LIVE else sub.position
                if sub.ended is None and position < last:
                    sub.ended = PositionLost
                    sub.lost_until = last
                    sub.buffer.clear()
                    sub.wake()
        self._published_seq = max(self._published_seq, last)
        for listener in self._listeners:
            listener.on_gap()

    async def close(self, drain_timeout: float = 5.0) -> None:
        """Ends every subscription with FanOutClosed and stops the tailer; waits (bounded) for streams to go."""
        if self._closed:
            return
        self._closed = True
        for subscribers in self._by_workspace.values():
            for sub in subscribers:
                sub.ended = FanOutClosed
                sub.buffer.clear()
                sub.wake()
        if self._tailer is not None:
            self._tailer.cancel()
            try:
                await self._tailer
            except asyncio.CancelledError:
                if asyncio.current_task().cancelling():  # type: ignore[union-attr]
                    raise
        try:
            await asyncio.wait_for(self.wait_until(lambda c: c.subscribers == 0), drain_timeout)
        except TimeoutError:
            _log.warning("event_fanout.close_timeout", subscribers=self.counters.subscribers)

    async def __aenter__(self) -> FanOut:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- observation (tests, metrics) ----------------------------------------------------------------

    async def wait_until(self, predicate: Callable[[FanOutCounters], bool]) -> None:
        """Returns once predicate(counters) holds; re-checked whenever a counter changes. Bound it with a timeout."""
        while not predicate(self.counters):
            watcher = asyncio.get_running_loop().create_future()
            self._watchers.append(watcher)
            await watcher

    def _changed(self) -> None:
        watchers, self._watchers = self._watchers, []
        for watcher in watchers:
            if not watcher.done():
                watcher.set_result(None)

    # -- publishing ----------------------------------------------------------------------------------

    def _frame(self, stored: StoredEvent) -> Frame | None:
        """The event's frame, built once while it is recent; None (logged) if it cannot be rendered."""
        frame = self._recent.get(stored.seq)
        if frame is not None:
            return frame
        try:
            event = self._render(stored)
        except Exception:  # a bad record must not stop the stream for everyone
            self.counters.unreadable += 1
            _log.exception("event_fanout.unreadable_event", seq=stored.seq, sid=stored.sid)
            return None
        data = encode_piece(event.SerializeToString(), encode_cursor(self.log.log_id, stored.seq))
        frame = Frame(stored.seq, EventRefs.from_event(event), data)
        self.counters.frames_built += 1
        self._recent[stored.seq] = frame
        while len(self._recent) > self._recent_limit:
            self._recent.popitem(last=False)
        return frame

    async def _tail(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            self._reading = True
            try:
                while True:
                    rows = await self.log.read_after(self._published_seq, limit=self._tail_page)
                    for row in rows:
                        if row.seq > self._published_seq:
                            self._publish(row)
                    if len(rows) < self._tail_page:
                        break
            except asyncio.CancelledError:
                raise
            except Exception:
                # A failed read loses nothing: the next pass starts after the last published seq.
                _log.exception("event_fanout.read_failed", after_seq=self._published_seq)
                try:
                    await asyncio.wait_for(self._wake.wait(), READ_RETRY_SECONDS)
                except TimeoutError:
                    pass
                self._wake.set()
            finally:
                self._reading = False

    def _publish(self, row: StoredEvent) -> None:
        self._published_seq = row.seq
        self.counters.published += 1
        subscribers = self._by_workspace.get(row.workspace_sid)
        if subscribers:  # nobody listening to this workspace: nothing to render
            frame = self._frame(row)
            if frame is not None:
                overflowed = 0
                for sub in subscribers:
                    if sub.filter.matches(frame.refs) and not sub.offer(frame):
                        overflowed += 1
                if overflowed:
                    self.counters.overflowed += overflowed
        for listener in self._listeners:
            try:
                listener.on_event(row.workspace_sid, row.event_type, row.received_ms, lambda: self._refs(row))
            except Exception:  # a listener's bug must not stop the stream for everyone
                _log.exception("event_fanout.listener_failed", seq=row.seq)
        if self._watchers:
            self._changed()

    def _refs(self, row: StoredEvent) -> EventRefs | None:
        frame = self._frame(row)
        return frame.refs if frame is not None else None

    # -- subscribing ---------------------------------------------------------------------------------

    def _register(self, sub: _Subscriber) -> None:
        self._by_workspace.setdefault(sub.filter.workspace_sid, set()).add(sub)
        self.counters.subscribers += 1
        self._changed()

    def _unregister(self, sub: _Subscriber) -> None:
        peers = self._by_workspace.get(sub.filter.workspace_sid)
        if peers is not None and sub in peers:
            peers.discard(sub)
            if not peers:
                del self._by_workspace[sub.filter.workspace_sid]
            self.counters.subscribers -= 1
            if sub.phase == _LIVE:
                self.counters.live -= 1
        sub.buffer.clear()
        self._changed()

    def _end(self, sub: _Subscriber, resume_seq: int) -> SubscriptionEnded:
        assert sub.ended is not None
        if sub.ended is PositionLost:
            return PositionLost(
                "events after your position were removed by retention before this replica read them; resume"
                " from the oldest event still held (or by time)",
                sub.lost_until,
            )
        if sub.ended is SubscriberTooSlow:
            return SubscriberTooSlow(
                f"subscriber fell more than {self.buffer_size} events behind; resume from your last cursor",
                resume_seq,
            )
        return FanOutClosed("server shutting down; resume from your cursor", resume_seq)

    async def subscribe(self, event_filter: EventFilter, after_seq: int) -> AsyncGenerator[bytes, None]:
        """Yields StreamEventsResponse wire bytes holding every matching event with seq > after_seq, in seq
        order, batched as they are ready, until ended.

        Ends by raising SubscriberTooSlow, FanOutClosed or LogUnreadable, each carrying the seq to resume
        after (the last one delivered). Close it (contextlib.aclosing) so an abandoned stream unsubscribes at
        once.
        """
        if self._closed:
            raise FanOutClosed("server shutting down; resume from your cursor", after_seq)
        sub = _Subscriber(event_filter, self.buffer_size)
        sub.position = after_seq
        # Register before replaying: whatever the tailer publishes from now on lands in the buffer, and the
        # replay below covers everything before that, so the hand-off has no gap.
        self._register(sub)
        counters = self.counters
        last = after_seq  # the last seq delivered (or skipped as not matching)
        try:
            while True:
                try:
                    rows = await self.log.read_after(
                        last, limit=self.page_size, workspace_sid=event_filter.workspace_sid
                    )
                except EventLogError as exc:
                    raise LogUnreadable(f"the event log cannot be read: {exc}", last) from exc
                pieces: list[bytes] = []
                size = 0
                for row in rows:
                    if sub.ended is not None:
                        break
                    frame = self._frame(row)
                    if frame is not None and event_filter.matches(frame.refs):
                        if pieces and size + len(frame.data) > MAX_MESSAGE_BYTES:
                            yield self._message(pieces)
                            pieces, size = [], 0
                        pieces.append(frame.data)
                        size += len(frame.data)
                    # Not delivered yet, but every later resume position is after this message is sent.
                    last = row.seq
                sub.position = last
                if pieces:
                    yield self._message(pieces)
                if sub.ended is not None:
                    raise self._end(sub, last)
                if len(rows) == self.page_size:
                    continue
                if sub.dropped:
                    # Events went missing from the buffer while replaying; the log still has them.
                    sub.dropped = False
                    sub.buffer.clear()
                    counters.rereads += 1
                    continue
                # Caught up, with no await since the last read: the buffer holds every matching event
                # published after registration (or after the last reread). The loop below skips the ones the
                # replay already delivered, without awaiting, so they never count against the bound.
                sub.phase = _LIVE
                counters.live += 1
                self._changed()
                break

            buffer = sub.buffer
            loop = asyncio.get_running_loop()
            while True:
                if sub.ended is not None:
                    raise self._end(sub, last)
                pieces = []
                size = 0
                while buffer:
                    frame = buffer[0]
                    if frame.seq <= last:
                        buffer.popleft()
                        continue
                    if pieces and size + len(frame.data) > MAX_MESSAGE_BYTES:
                        break
                    buffer.popleft()
                    pieces.append(frame.data)
                    size += len(frame.data)
                    last = frame.seq
                if pieces:
                    yield self._message(pieces)
                    continue
                sub.waiter = loop.create_future()
                await sub.waiter
                sub.waiter = None
        finally:
            self._unregister(sub)

    def lags(self) -> list[int]:
        """Events each open subscription is behind: still to replay, or buffered and unsent once live."""
        published = self._published_seq
        return [
            len(sub.buffer) if sub.phase == _LIVE else max(0, published - sub.position)
            for subs in self._by_workspace.values()
            for sub in subs
        ]

    def _message(self, pieces: list[bytes]) -> bytes:
        self.counters.delivered += len(pieces)
        self.counters.messages += 1
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)


__all__ = [
    "FanOut",
    "FanOutClosed",
    "FanOutCounters",
    "Frame",
    "LogUnreadable",
    "PositionLost",
    "SubscriberTooSlow",
    "SubscriptionEnded",
    "encode_piece",
]
