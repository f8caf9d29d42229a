"""A worker's move to another Activity, by a REST update or by routing, and its worker.activity.update event."""

from __future__ import annotations

from .. import event_log
from ..model import Activity, Worker
from .space import Space
from .transaction import Transaction

Previous = tuple[str, float]  # the activity the worker left, and since when it had been in it


def move(tx: Transaction, space: Space, worker: Worker, activity: Activity, *, bump: bool = True) -> Previous:
    """Move a worker to another activity. With bump (a move routing makes, not a REST update), the version and
    update date move too and the event is recorded here; otherwise the caller records it with `record_move`."""
    now = tx.clock()
    previous = (worker.activity_sid, worker.date_status_changed)
    worker.activity_sid = activity.sid
    worker.date_status_changed = now
    if bump:
        worker.version += 1
        worker.date_updated = now
        tx.put("worker", worker, worker.workspace_sid)
        record_move(tx, space, worker, activity, previous)
    return previous


def record_move(tx: Transaction, space: Space, worker: Worker, activity: Activity, previous: Previous) -> None:
    previous_sid, previous_since = previous
    elapsed_ms = max(0, int(round((worker.date_status_changed - previous_since) * 1000)))
    tx.record(
        space,
        "worker.activity.update",
        "worker",
        worker.sid,
        f"Worker {worker.friendly_name} updated to {activity.friendly_name} Activity",
        event_log.worker_activity_data(worker, activity, previous_sid, elapsed_ms),
    )
