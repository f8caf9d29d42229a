"""The one way into the log: append records durably, then wake the fan-out; and, for live callbacks, keep
the completeness marks moving while their run is unbroken."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Protocol

from ..eventlog.log import DAY_MS, AppendResult, EventLog, EventLogError, NewEvent
from .live_marks import LiveMarks


class Wakeable(Protocol):
    """What ingest needs of the fan-out (stream/), so that ingest does not import it."""

    def notify(self) -> None: ...


class EventTooOld(Exception):
    """A live callback dated before the retention window: storing it would bring back an event the log has
    already forgotten (a replayed callback), so it is refused."""


class Ingestor:
    def __init__(
        self,
        log: EventLog,
        fanout: Wakeable,
        *,
        on_append: Callable[[float, bool], None] | None = None,
        retention_days: float | None = 30,
        live_marks: LiveMarks | None = None,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self._log = log
        self._fanout = fanout
        self._on_append = on_append  # (seconds, committed): metrics and readiness
        self._retention_ms = None if retention_days is None else int(retention_days * DAY_MS)
        self.live_marks = live_marks
        self._clock_ms = clock_ms

    async def ingest(self, events: Sequence[NewEvent]) -> list[AppendResult]:
        """Returns once every event is durable; duplicates (by sid) are reported, not stored again."""
        started = time.perf_counter()
        try:
            results = await self._log.append(events)
        except EventLogError:
            if self._on_append is not None:
                self._on_append(time.perf_counter() - started, False)
            raise
        if self._on_append is not None:
            self._on_append(time.perf_counter() - started, True)
        if any(not r.duplicate for r in results):
            self._fanout.notify()  # a no-op when the log hands commits to the fan-out itself
        return results

    async def ingest_live(self, event: NewEvent) -> AppendResult:
        """One callback from the webhook. Raises EventTooOld (nothing stored) or EventLogError (not stored, and
        the live run is broken: the marks stop until a backfill has covered what may have been missed)."""
        if self._retention_ms is not None and event.event_date_ms < self._clock_ms() - self._retention_ms:
            raise EventTooOld(f"event {event.sid} is dated before the {self._retention_ms // DAY_MS}-day retention"
                              " window; not stored")
        try:
            [result] = await self.ingest([event])
        except EventLogError:
            if self.live_marks is not None:
                self.live_marks.broken()
            raise
        if self.live_marks is not None:
            self.live_marks.seen(event.workspace_sid, event.event_date_ms)
        return result
