"""The one way into the log: append records durably, then wake the fan-out."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from .fanout import FanOut
from .log import AppendResult, EventLog, EventLogError, NewEvent


class Ingestor:
    def __init__(
        self, log: EventLog, fanout: FanOut, *, on_append: Callable[[float, bool], None] | None = None
    ) -> None:
        self._log = log
        self._fanout = fanout
        self._on_append = on_append  # (seconds, committed): metrics and readiness

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
