"""Helpers for the statistics tests: a workspace with two queues (the workflow moves a task from the first to
the second after 60 s), three workers and their tasks, plus counting events the way each figure should."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .routing_kit import Space, new_space, ok

RESERVATION_FIGURES = {
    "reservations_created": "reservation.created",
    "reservations_accepted": "reservation.accepted",
    "reservations_rejected": "reservation.rejected",
    "reservations_timed_out": "reservation.timeout",
    "reservations_canceled": "reservation.canceled",
    "reservations_rescinded": "reservation.rescinded",
}
TASK_FIGURES = {
    "tasks_canceled": "task.canceled",
    "tasks_completed": "task.completed",
    "tasks_deleted": "task.deleted",
    "tasks_moved": "task-queue.moved",
}


class Contact:
    """The scenario's workspace: queues q1 (first 60 s) and q2, workflow wf, workers."""

    def __init__(self, space: Space, q1: str, q2: str, wf: str, workers: list[str]) -> None:
        self.space, self.q1, self.q2, self.wf, self.workers = space, q1, q2, wf, workers

    @property
    def base(self) -> str:
        return self.space.base

    async def get(self, path: str, **params: Any) -> Any:
        return await ok(self.space.http, "GET", self.base + path, params=params)


async def contact_centre(http: Any, *, reservation_timeout: int = 30, virtual_clock: bool = True) -> Contact:
    space = await new_space(http, virtual_clock=virtual_clock)
    q1 = await space.queue("First", TargetWorkers="level >= 1")
    q2 = await space.queue("Second", TargetWorkers="level >= 2")
    wf = await space.workflow(
        {"task_routing": {"default_filter": {"queue": q1}, "filters": [
            {"filter_friendly_name": "all", "expression": "1 == 1",
             "targets": [{"queue": q1, "timeout": 60}, {"queue": q2}]}]}},
        TaskReservationTimeout=str(reservation_timeout),
    )
    workers = [await space.worker(f"w{n}", {"level": n}) for n in (1, 2, 3)]
    return Contact(space, q1, q2, wf, workers)


async def events_in(http: Any, base: str, **params: Any) -> list[dict[str, Any]]:
    """Every event the Events API returns for these parameters, all pages."""
    found: list[dict[str, Any]] = []
    url: str | None = f"{base}/Events"
    query: dict[str, Any] | None = {"PageSize": 1000, **params}
    while url:
        body = await ok(http, "GET", url, params=query)
        found.extend(body["events"])
        url, query = body["meta"]["next_page_url"], None
    return found


def count(events: Iterable[dict[str, Any]], event_type: str, key: str | None = None, value: str | None = None) -> int:
    return sum(1 for e in events if e["event_type"] == event_type
               and (key is None or e["event_data"].get(key) == value))


def waits(
    events: Iterable[dict[str, Any]], event_type: str, key: str | None = None, value: str | None = None
) -> list[int]:
    return [int(e["event_data"]["task_age"]) for e in events if e["event_type"] == event_type
            and (key is None or e["event_data"].get(key) == value)]


def expected_cumulative(
    events: list[dict[str, Any]], key: str | None = None, value: str | None = None
) -> dict[str, int]:
    """The counters a scope's cumulative statistics must show for these events."""
    figures = {name: count(events, kind, key, value) for name, kind in {**RESERVATION_FIGURES, **TASK_FIGURES}.items()}
    accepted = waits(events, "reservation.accepted", key, value)
    canceled = waits(events, "task.canceled", key, value)
    figures["accepted_total"] = sum(accepted)
    figures["accepted_max"] = max(accepted, default=0)
    figures["canceled_total"] = sum(canceled)
    figures["canceled_max"] = max(canceled, default=0)
    return figures


def actual_cumulative(body: dict[str, Any]) -> dict[str, int]:
    figures = {name: body[name] for name in {**RESERVATION_FIGURES, **TASK_FIGURES}}
    figures["accepted_total"] = body["wait_duration_until_accepted"]["total"]
    figures["accepted_max"] = body["wait_duration_until_accepted"]["max"]
    figures["canceled_total"] = body["wait_duration_until_canceled"]["total"]
    figures["canceled_max"] = body["wait_duration_until_canceled"]["max"]
    return figures
