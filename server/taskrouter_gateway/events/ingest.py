"""The one way into the log: append records durably, then wake the fan-out."""

from __future__ import annotations

from collections.abc import Sequence

from .fanout import FanOut
from .log import AppendResult, EventLog, NewEvent


class Ingestor:
    def __init__(self, log: EventLog, fanout: FanOut) -> None:
        self._log = log
        self._fanout = fanout

    async def ingest(self, events: Sequence[NewEvent]) -> list[AppendResult]:
        """Returns once every event is durable; duplicates (by sid) are reported, not stored again."""
        results = await self._log.append(events)
        if any(not r.duplicate for r in results):
            self._fanout.notify()  # a no-op when the log hands commits to the fan-out itself
        return results
