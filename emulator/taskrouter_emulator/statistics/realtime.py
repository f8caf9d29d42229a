"""Real-time figures, read from the current state through the store's public reads.

Tasks count while they are live (pending, reserved, assigned, wrapping): completed and canceled tasks are
history, which the cumulative figures hold. "Waiting" tasks are pending or reserved (no worker has accepted).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..engine.changes import TaskFilters, WorkerFilters
from ..engine.ranking import effective_priority
from ..model import Activity, Task, Worker
from ..store import Store

LIVE_STATUSES = ("pending", "reserved", "assigned", "wrapping")
WAITING = frozenset({"pending", "reserved"})


def live_tasks(store: Store, workspace_sid: str, channel: str | None, **filters: Any) -> list[Task]:
    tasks = store.list_tasks(workspace_sid, TaskFilters(assignment_status=LIVE_STATUSES, **filters))
    if channel is not None:
        tasks = [task for task in tasks if task.task_channel_sid == channel]
    return tasks


def task_figures(tasks: list[Task], now: float) -> dict[str, Any]:
    by_status = dict.fromkeys(LIVE_STATUSES, 0)
    by_priority: dict[str, int] = {}
    oldest: Task | None = None
    for task in tasks:
        by_status[task.assignment_status] += 1
        priority = str(effective_priority(task))
        by_priority[priority] = by_priority.get(priority, 0) + 1
        if task.assignment_status in WAITING and (oldest is None or task.date_created < oldest.date_created):
            oldest = task
    return {
        "tasks_by_status": by_status,
        "tasks_by_priority": by_priority,
        "total_tasks": len(tasks),
        "longest_task_waiting_age": max(0, int(now - oldest.date_created)) if oldest else 0,
        "longest_task_waiting_sid": oldest.sid if oldest else None,
    }


def longest_in_queue(tasks: list[Task], now: float) -> dict[str, Any]:
    """The waiting task that entered the queue longest ago (moves between queues restart the clock)."""
    waiting = [task for task in tasks if task.assignment_status in WAITING and task.task_queue_entered_date]
    oldest = min(waiting, key=lambda task: task.task_queue_entered_date or 0.0, default=None)
    return {
        "longest_relative_task_age_in_queue": max(0, int(now - (oldest.task_queue_entered_date or now)))
        if oldest else 0,
        "longest_relative_task_sid_in_queue": oldest.sid if oldest else None,
    }


def workers_on_channel(
    store: Store, workspace_sid: str, pairs: list[tuple[Worker, Activity]], channel: str | None
) -> list[tuple[Worker, Activity]]:
    """With a TaskChannel, only the workers whose channel is available with some configured capacity."""
    if channel is None:
        return pairs
    kept = []
    for worker, act in pairs:
        for wc, _ in store.list_worker_channels(workspace_sid, worker.sid):
            if wc.task_channel_sid == channel and wc.available and wc.configured_capacity > 0:
                kept.append((worker, act))
                break
    return kept


def all_workers(store: Store, workspace_sid: str, channel: str | None, **filters: Any) -> list[tuple[Worker, Activity]]:
    pairs = store.list_workers(workspace_sid, WorkerFilters(**filters))
    return workers_on_channel(store, workspace_sid, pairs, channel)


def activity_statistics(activities: Iterable[Activity], pairs: list[tuple[Worker, Activity]]) -> list[dict[str, Any]]:
    counts: dict[str, int] = {}
    for _, act in pairs:
        counts[act.sid] = counts.get(act.sid, 0) + 1
    return [{"sid": act.sid, "friendly_name": act.friendly_name, "workers": counts.get(act.sid, 0)}
            for act in activities]


def queue_figures(
    store: Store, workspace_sid: str, queue_sid: str, activities: list[Activity], channel: str | None, now: float
) -> dict[str, Any]:
    members = store.queue_member_sids(workspace_sid, queue_sid, None)
    eligible = [pair for pair in all_workers(store, workspace_sid, channel) if pair[0].sid in members]
    tasks = live_tasks(store, workspace_sid, channel, task_queue_sid=queue_sid)
    return {
        **task_figures(tasks, now),
        **longest_in_queue(tasks, now),
        "activity_statistics": activity_statistics(activities, eligible),
        "total_available_workers": sum(1 for _, act in eligible if act.available),
        "total_eligible_workers": len(eligible),
    }
