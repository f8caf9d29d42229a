"""The replica's one ordered consumer: it reads the stream from where the replica started, in seq order.

One per replica, never one per subscriber: it keeps the newest events in a bounded cache (recent.py) and
hands new events to commit listeners (the fan-out) in seq order. Reads that must see what was written wait on it
(`fresh`, `current`): the cache is then up to date for them.

A seq that skips ahead under the consumer means retention removed events before this replica read them:
gap listeners hear of it (the fan-out ends the subscribers that needed them with OUT_OF_RANGE), a counter
counts it, and the replica reports itself not ready until it has caught up with the stream again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from nats.aio.msg import Msg
from nats.js import api

from ..log import EventLogClosed, EventLogError, StoredEvent
from . import codec
from .connection import Connection, stamp_ms
from .lifecycle import Lifecycle
from .marks import Lead
from .options import StreamOptions
from .recent import RecentEvents

_log = structlog.get_logger(__name__)


class Consumer:
    def __init__(
        self,
        connection: Connection,
        stream: StreamOptions,
        lifecycle: Lifecycle,
        lead: Lead,
        *,
        position: int,
        cache_size: int,
        read_timeout_s: float,
        listeners: Sequence[Callable[[list[StoredEvent]], None]],
        gap_listeners: Sequence[Callable[[int, int], None]],
    ) -> None:
        self._connection = connection
        self._stream = stream
        self._lifecycle = lifecycle
        self._lead = lead
        self._read_timeout = read_timeout_s
        self._listeners = listeners  # the log's lists: listeners added later are heard too
        self._gap_listeners = gap_listeners
        self._recent = RecentEvents(position=position, cache_size=cache_size)
        self._acked_max = position  # the highest seq this replica's appends were acknowledged at
        self._sub: Any = None
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._pending: list[StoredEvent] = []
        self._flush_scheduled = False
        self._behind_until = 0  # not ready while the consumer's position is below this (after a gap)
        self._catch_up: asyncio.Task[None] | None = None
        self.gaps = 0  # times retention removed events before this replica read them (metrics, tests)

    @property
    def recent(self) -> RecentEvents:
        return self._recent

    async def subscribe(self) -> None:
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=self._recent.position + 1,
        )
        self._sub = await self._connection.js.subscribe(
            f"{self._stream.prefix}.>", stream=self._stream.name, cb=self._on_msg, ordered_consumer=True,
            idle_heartbeat=1.0, config=config, pending_msgs_limit=-1, pending_bytes_limit=256 * 1024 * 1024,
        )

    async def unsubscribe(self) -> None:
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except Exception:  # the connection may already be gone; nothing to release then
                pass
            self._sub = None

    async def stop_catching_up(self) -> None:
        if self._catch_up is not None:
            self._catch_up.cancel()
            await asyncio.gather(self._catch_up, return_exceptions=True)

    def fail_waiters(self) -> None:
        """Closed: reads still waiting for the consumer fail."""
        for _, waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(EventLogClosed("event log closed"))
        self._waiters.clear()

    def acked(self, seq: int) -> None:
        """An append was acknowledged at seq: reads wait for the consumer to get that far."""
        if seq > self._acked_max:
            self._acked_max = seq

    def not_ready_reason(self) -> str | None:
        recent = self._recent
        if recent.position < self._behind_until:
            return (f"catching up with the event stream after losing events to retention"
                    f" (at seq {recent.position} of {self._behind_until})")
        return None

    async def fresh(self) -> RecentEvents:
        """The cache once it holds everything this replica has acked (other replicas' writes follow shortly)."""
        self._lifecycle.require_open()
        return await self._reach(self._acked_max, self._read_timeout)

    async def current(self) -> tuple[RecentEvents, int]:
        """The cache once it holds everything the stream held when called, and the stream's first seq."""
        self._lifecycle.require_open()
        first, last = await self.bounds()
        return await self._reach(max(last, self._acked_max), self._read_timeout), first

    async def bounds(self) -> tuple[int, int]:
        """(first_seq, last_seq) from the stream leader; the cache forgets what retention removed."""
        first, last = await self._connection.bounds()
        self._recent.drop_before(first)
        return first, last

    async def _on_msg(self, msg: Msg) -> None:
        recent = self._recent
        meta = msg.metadata
        seq = meta.sequence.stream
        if seq <= recent.position:
            return
        received_ms = stamp_ms(meta.timestamp)
        event: StoredEvent | None
        try:
            event = codec.decode(msg.data, seq, received_ms)
        except codec.UndecodableMessage:
            _log.exception("event_log.undecodable_message", seq=seq)
            event = None
        lost = recent.advance(seq, event)
        if lost is not None:
            self._lost(*lost)
        if event is not None:
            self._lead.saw(event.event_date_ms - received_ms)
            if self._listeners:
                self._pending.append(event)
                if not self._flush_scheduled:
                    self._flush_scheduled = True
                    asyncio.get_running_loop().call_soon(self._flush)
        if self._waiters:
            self._wake_waiters()

    def _lost(self, first: int, last: int) -> None:
        """Events first..last were removed before this replica read them: say so, and catch up."""
        self.gaps += 1
        _log.warning("event_log.gap", stream=self._stream.name, first_lost=first, last_lost=last,
                     lost=last - first + 1)
        if self._pending:
            self._flush()  # what came before the gap reaches listeners first, in seq order
        self._behind_until = max(self._behind_until, last + 1)
        for listener in self._gap_listeners:
            try:
                listener(first, last)
            except Exception:
                _log.exception("event_log.gap_listener_failed")
        if self._catch_up is None or self._catch_up.done():
            self._catch_up = asyncio.get_running_loop().create_task(
                self._catch_up_after_gap(), name="event-log-catch-up"
            )

    async def _catch_up_after_gap(self) -> None:
        """Not ready until the consumer has read what the stream held once the gap was found."""
        while True:
            try:
                _, last = await self.bounds()
                self._behind_until = max(self._behind_until, last)
                await self._reach(self._behind_until, self._read_timeout * 4, what="catching up after a gap")
                _log.info("event_log.caught_up", stream=self._stream.name, position=self._recent.position)
                return
            except EventLogClosed:
                return
            except EventLogError as exc:
                _log.warning("event_log.catch_up_retry", error=str(exc))  # still not ready; try again

    def _flush(self) -> None:
        # One hand-over per burst: messages delivered back to back reach the fan-out as one list.
        self._flush_scheduled = False
        events, self._pending = self._pending, []
        if not events:
            return
        for listener in self._listeners:
            try:
                listener(events)
            except Exception:
                _log.exception("event_log.listener_failed")

    def _wake_waiters(self) -> None:
        position = self._recent.position
        still = []
        for target, waiter in self._waiters:
            if position >= target:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                still.append((target, waiter))
        self._waiters = still

    async def _reach(self, target: int, timeout: float, *, what: str = "reading") -> RecentEvents:
        """Waits until the consumer has read every seq <= target."""
        recent = self._recent
        if recent.position >= target:
            return recent
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append((target, waiter))
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            # Retention may have removed everything up to target, leaving the consumer nothing to read.
            first, _ = await self.bounds()
            if first > target:
                lost = recent.jump_to(first - 1)
                if lost is not None:
                    self._lost(*lost)
                self._wake_waiters()
                return recent
            raise EventLogError(
                f"event log: {what} timed out at seq {recent.position} of {target} (is the NATS stream available?)"
            ) from None
        return recent
