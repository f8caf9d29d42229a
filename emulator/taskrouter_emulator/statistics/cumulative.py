"""Cumulative figures: one pass over a window's facts, counting each event type and folding wait times.

Each counter is the number of events of one type in the window that the scope's Events filter would return
(TaskQueueSid, WorkflowSid, WorkerSid), so the figures agree with the Events API by construction.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..model import Activity
from .index import RESERVATION_KINDS, Fact

_RESERVATION_FIELDS = {f"reservation.{k}": f"reservations_{'timed_out' if k == 'timeout' else k}"
                       for k in RESERVATION_KINDS}


@dataclass
class Durations:
    count: int = 0
    total: int = 0
    low: int = 0
    high: int = 0

    def add(self, seconds: int) -> None:
        if self.count == 0 or seconds < self.low:
            self.low = seconds
        if seconds > self.high:
            self.high = seconds
        self.count += 1
        self.total += seconds

    @property
    def avg(self) -> int:
        return round(self.total / self.count) if self.count else 0

    def render(self) -> dict[str, int]:
        return {"avg": self.avg, "min": self.low, "max": self.high, "total": self.total}


@dataclass
class Fold:
    counts: dict[str, int] = field(default_factory=dict)  # event type -> events in the window
    until_accepted: Durations = field(default_factory=Durations)
    until_canceled: Durations = field(default_factory=Durations)
    in_queue_until_accepted: Durations = field(default_factory=Durations)
    accepted_waits: list[int] = field(default_factory=list)
    canceled_waits: list[int] = field(default_factory=list)
    activity: dict[str, Durations] = field(default_factory=dict)  # previous activity sid -> its lengths

    def count(self, event_type: str) -> int:
        return self.counts.get(event_type, 0)


def fold(
    facts: Iterable[Fact],
    *,
    queue: str | None = None,
    workflow: str | None = None,
    workers: Collection[str] | None = None,
    channel: str | None = None,
) -> Fold:
    """Facts in scope: a queue's, a workflow's, some workers' (None: no restriction); on a channel's tasks."""
    result = Fold()
    counts = result.counts
    for fact in facts:
        if queue is not None and fact.queue != queue:
            continue
        if workflow is not None and fact.workflow != workflow:
            continue
        if workers is not None and fact.worker not in workers:
            continue
        kind = fact.kind
        if channel is not None:
            if kind == "worker.activity.update":
                pass  # activities are not per channel
            elif fact.channel != channel:
                continue
        counts[kind] = counts.get(kind, 0) + 1
        if kind == "reservation.accepted":
            result.until_accepted.add(fact.wait)
            result.in_queue_until_accepted.add(fact.in_queue)
            result.accepted_waits.append(fact.wait)
        elif kind == "task.canceled":
            result.until_canceled.add(fact.wait)
            result.canceled_waits.append(fact.wait)
        elif kind == "worker.activity.update":
            durations = result.activity.get(fact.activity)
            if durations is None:
                durations = result.activity[fact.activity] = Durations()
            durations.add(fact.wait)
    return result


def reservation_figures(result: Fold) -> dict[str, int]:
    return {name: result.count(kind) for kind, name in _RESERVATION_FIELDS.items()}


def split_by_wait_time(result: Fold, thresholds: tuple[int, ...] | None) -> dict[str, Any] | None:
    """Per threshold, canceled tasks and accepted reservations whose wait was below it (strictly) or above
    (at or past it)."""
    if thresholds is None:
        return None
    split = {}
    for threshold in thresholds:
        below_canceled = sum(1 for wait in result.canceled_waits if wait < threshold)
        below_accepted = sum(1 for wait in result.accepted_waits if wait < threshold)
        split[str(threshold)] = {
            "above": {"tasks_canceled": len(result.canceled_waits) - below_canceled,
                      "reservations_accepted": len(result.accepted_waits) - below_accepted},
            "below": {"tasks_canceled": below_canceled, "reservations_accepted": below_accepted},
        }
    return split


def wait_figures(result: Fold, thresholds: tuple[int, ...] | None) -> dict[str, Any]:
    """The task-centred figures every task-level scope (workspace, queue, workflow) shares."""
    figures: dict[str, Any] = {
        "avg_task_acceptance_time": result.until_accepted.avg,
        "wait_duration_until_accepted": result.until_accepted.render(),
        "wait_duration_until_canceled": result.until_canceled.render(),
        "split_by_wait_time": split_by_wait_time(result, thresholds),
        "tasks_canceled": result.count("task.canceled"),
        "tasks_completed": result.count("task.completed"),
        "tasks_deleted": result.count("task.deleted"),
        "tasks_moved": result.count("task-queue.moved"),
    }
    figures.update(reservation_figures(result))
    return figures


def activity_durations(result: Fold, activities: Iterable[Activity]) -> list[dict[str, Any]]:
    """Every activity of the workspace with the min/avg/max/total seconds workers spent in it (intervals that
    a worker.activity.update in the window closed)."""
    rendered = []
    for act in activities:
        durations = result.activity.get(act.sid, Durations())
        rendered.append({"sid": act.sid, "friendly_name": act.friendly_name, **durations.render()})
    return rendered
