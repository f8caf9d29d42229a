"""One workspace's Event log: append in recording order, keep 30 days, filter like GET .../Events.

event_data builders live here too: their keys are the contract in model.py's docstring (the Events Reference page's
callback fields in snake_case, string values as the Event Resource page shows them).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from . import defaults
from .model import Activity, Event, Worker, Workspace

# A hard bound on memory: beyond this many events a workspace drops its oldest ones early (Twilio keeps
# 30 days whatever the volume; an emulator in a test run cannot promise that).
MAX_EVENTS_PER_WORKSPACE = 100_000

# The Workers' OperatingUnitSid: this emulator models a single operating unit.
OPERATING_UNIT_SID = "OU" + "0" * 31 + "1"


@dataclass(frozen=True)
class EventFilters:
    start_ms: int
    end_ms: int | None = None
    event_type: str | None = None
    reservation_sid: str | None = None
    task_queue_sid: str | None = None
    task_sid: str | None = None
    worker_sid: str | None = None
    workflow_sid: str | None = None
    task_channel: str | None = None
    sid: str | None = None

    def matches(self, ev: Event) -> bool:
        if ev.event_date_ms < self.start_ms or (self.end_ms is not None and ev.event_date_ms > self.end_ms):
            return False
        if self.sid is not None and ev.sid != self.sid:
            return False
        if self.event_type is not None and ev.event_type != self.event_type:
            return False
        data = ev.event_data
        for value, resource_type, key in (
            (self.worker_sid, "worker", "worker_sid"),
            (self.task_sid, "task", "task_sid"),
            (self.reservation_sid, "reservation", "reservation_sid"),
            (self.task_queue_sid, "taskqueue", "task_queue_sid"),
            (self.workflow_sid, "workflow", "workflow_sid"),
        ):
            if (
                value is not None
                and data.get(key) != value
                and not (ev.resource_type == resource_type and ev.resource_sid == value)
            ):
                return False
        if self.task_channel is not None and self.task_channel not in (
            data.get("task_channel_unique_name"),
            data.get("task_channel_sid"),
        ):
            return False
        return True


class EventLog:
    """Events in recording order; the dict keeps both fetch-by-sid and order in one structure."""

    def __init__(self) -> None:
        self._events: dict[str, Event] = {}

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self._events.values())

    def get(self, sid: str) -> Event | None:
        return self._events.get(sid)

    def append(self, event: Event) -> None:
        self._events[event.sid] = event

    def prune(self, now_ms: int) -> list[str]:
        """Drop events past retention (and the oldest beyond the size cap); returns the dropped sids."""
        cutoff = now_ms - defaults.EVENT_RETENTION_SECONDS * 1000
        excess = len(self._events) - MAX_EVENTS_PER_WORKSPACE
        dropped: list[str] = []
        for sid, event in self._events.items():
            if event.event_date_ms >= cutoff and len(dropped) >= excess:
                break  # recording order is time order, so nothing later is older
            dropped.append(sid)
        for sid in dropped:
            del self._events[sid]
        return dropped


def _bool(value: bool) -> str:
    return "true" if value else "false"


def worker_data(worker: Worker, activity: Activity) -> dict[str, str]:
    return {
        "worker_sid": worker.sid,
        "worker_name": worker.friendly_name,
        "worker_attributes": worker.attributes,
        "worker_activity_sid": activity.sid,
        "worker_activity_name": activity.friendly_name,
        "worker_version": str(worker.version),
        "operating_unit_sid": OPERATING_UNIT_SID,
    }


def worker_activity_data(
    worker: Worker, activity: Activity, previous_activity_sid: str, previous_ms: int
) -> dict[str, str]:
    data = worker_data(worker, activity)
    data["worker_time_in_previous_activity"] = str(previous_ms // 1000)
    data["worker_time_in_previous_activity_ms"] = str(previous_ms)
    data["worker_previous_activity_sid"] = previous_activity_sid
    return data


def activity_data(activity: Activity) -> dict[str, str]:
    return {
        "activity_sid": activity.sid,
        "activity_name": activity.friendly_name,
        "activity_available": _bool(activity.available),
    }


def workspace_data(workspace: Workspace) -> dict[str, str]:
    return {"workspace_sid": workspace.sid, "workspace_name": workspace.friendly_name}
