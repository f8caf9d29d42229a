"""The one way into the log: serialize once, append durably, then wake the fan-out."""

from __future__ import annotations

from collections.abc import Sequence

from taskrouter.gateway.v1 import event_pb2

from .fanout import FanOut
from .log import AppendResult, EventLog, NewEvent


def to_new_event(event: event_pb2.Event) -> NewEvent:
    return NewEvent(
        sid=event.sid,
        workspace_sid=event.workspace_sid,
        event_type=event.event_type,
        resource_sid=event.resource_sid,
        event_date_ms=max(event.event_date_ms, 0),
        payload=event.SerializeToString(),
    )


class Ingestor:
    def __init__(self, log: EventLog, fanout: FanOut) -> None:
        self._log = log
        self._fanout = fanout

    async def ingest(self, events: Sequence[event_pb2.Event]) -> list[AppendResult]:
        """Returns once every event is durable; duplicates (by sid) are reported, not stored again."""
        results = await self._log.append([to_new_event(e) for e in events])
        if any(not r.duplicate for r in results):
            self._fanout.notify()
        return results
