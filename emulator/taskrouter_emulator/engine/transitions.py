"""Task and reservation state transitions, each with its events in the order docs/routing-events.md fixes:
reserve, accept, wrap up, complete, reject or time out, cancel, and removing a task."""

from __future__ import annotations

from ..model import Activity, Reservation, Task, TaskQueue, Worker
from ..sids import new_sid
from . import worker_activity
from .event_data import reservation_data, task_data
from .space import FINAL_TASK_KEPT_SECONDS, RoutingSpace, Space
from .transaction import Transaction


def task_moved(tx: Transaction, task: Task, now: float) -> None:
    """Every change of a task's state moves its ETag, so If-Match catches what routing did meanwhile."""
    task.version += 1
    task.date_updated = now
    tx.save(task)


def bump_step(rs: RoutingSpace, task: Task) -> int:
    """A new routing step for the task: its earlier step timers are stale from now on."""
    generation = rs.step_gen.get(task.sid, 0) + 1
    rs.step_gen[task.sid] = generation
    return generation


def release(rs: RoutingSpace, res: Reservation) -> None:
    channels = rs.load.get(res.worker_sid)
    if channels is not None and channels.get(res.task_channel_sid, 0) > 0:
        channels[res.task_channel_sid] -= 1


def reservation_event(
    tx: Transaction, space: Space, event_type: str, task: Task, res: Reservation, now: float, description: str
) -> None:
    worker = space.workers.get(res.worker_sid)
    activity = space.activities.get(worker.activity_sid) if worker is not None else None
    tx.record(space, event_type, "reservation", res.sid, description,
              reservation_data(task, res, worker, activity, now))


def reserve(tx: Transaction, space: Space, task: Task, worker: Worker, queue: TaskQueue, now: float) -> Reservation:
    rs = space.routing
    workflow = rs.workflows.get(task.workflow_sid or "")
    ws = space.workspace
    res = Reservation(
        sid=new_sid("WR"),
        account_sid=ws.account_sid,
        workspace_sid=ws.sid,
        task_sid=task.sid,
        worker_sid=worker.sid,
        worker_name=worker.friendly_name,
        task_queue_sid=queue.sid,
        workflow_sid=task.workflow_sid,
        task_channel_sid=task.task_channel_sid,
        timeout=workflow.task_reservation_timeout if workflow is not None else 120,
        date_created=now,
        date_updated=now,
    )
    rs.reservations[res.sid] = res
    rs.task_reservations.setdefault(task.sid, []).append(res.sid)
    rs.worker_reservations.setdefault(worker.sid, []).append(res.sid)
    channels = rs.load.setdefault(worker.sid, {})
    channels[task.task_channel_sid] = channels.get(task.task_channel_sid, 0) + 1
    tx.assign_seq(res.sid)
    if task.assignment_status != "reserved":
        task.assignment_status = "reserved"
        task_moved(tx, task, now)
    tx.save(res)
    reservation_event(tx, space, "reservation.created", task, res, now,
                      f"Reservation {res.sid} created for Task {task.sid}")
    if not ws.multi_task_enabled and queue.reservation_activity_sid:
        worker_activity.move(tx, space, worker, space.activities[queue.reservation_activity_sid])
    tx.schedule(now + res.timeout, "reservation", ws.sid, res.sid)
    return res


def finish_reservation(tx: Transaction, space: Space, task: Task, res: Reservation, status: str, now: float) -> None:
    """A pending or active reservation ends (rejected, timeout, canceled, rescinded, completed)."""
    rs = space.routing
    release(rs, res)
    res.reservation_status = status
    res.date_updated = now
    rs.idle_since[res.worker_sid] = now
    tx.save(task, res)
    verb = {"timeout": "timed out"}.get(status, status)
    reservation_event(tx, space, f"reservation.{status}", task, res, now, f"Reservation {res.sid} {verb}")


def end_pending(tx: Transaction, space: Space, res: Reservation, status: str, now: float,
                activity: Activity | None = None) -> None:
    """rejected or timeout: the task waits again (unless other reservations are still out)."""
    rs = space.routing
    task = rs.tasks[res.task_sid]
    rs.refused.setdefault(task.sid, set()).add(res.worker_sid)
    if not [r for r in rs.active_reservations(task.sid, "pending") if r.sid != res.sid]:
        task.assignment_status = "pending"
        task_moved(tx, task, now)
    finish_reservation(tx, space, task, res, status, now)
    worker = space.workers.get(res.worker_sid)
    if worker is None:
        return
    if status == "timeout":
        activity = space.activities.get(space.workspace.timeout_activity_sid or "")
    if activity is not None and activity.sid != worker.activity_sid:
        worker_activity.move(tx, space, worker, activity)


def cancel_task(tx: Transaction, space: Space, task: Task, reason: str, now: float) -> None:
    rs = space.routing
    for res in rs.active_reservations(task.sid, "pending"):
        finish_reservation(tx, space, task, res, "canceled", now)
    rs.waiting.pop(task.sid, None)
    bump_step(rs, task)
    task.assignment_status = "canceled"
    task.reason = reason
    task_moved(tx, task, now)
    tx.schedule(now + FINAL_TASK_KEPT_SECONDS, "cleanup", task.workspace_sid, task.sid)
    tx.record(space, "task.canceled", "task", task.sid, f"Task {task.sid} canceled", task_data(task, now))


def accept(tx: Transaction, space: Space, task: Task, res: Reservation, now: float) -> None:
    rs = space.routing
    res.reservation_status = "accepted"
    res.date_updated = now
    tx.save(task, res)
    task.assignment_status = "assigned"
    task_moved(tx, task, now)
    rs.waiting.pop(task.sid, None)
    bump_step(rs, task)
    reservation_event(tx, space, "reservation.accepted", task, res, now, f"Reservation {res.sid} accepted")
    for other in rs.active_reservations(task.sid, "pending"):
        finish_reservation(tx, space, task, other, "rescinded", now)
    queue = rs.queues.get(res.task_queue_sid)
    worker = space.workers.get(res.worker_sid)
    if (worker is not None and queue is not None and queue.assignment_activity_sid
            and not space.workspace.multi_task_enabled):
        worker_activity.move(tx, space, worker, space.activities[queue.assignment_activity_sid])


def wrapup(tx: Transaction, space: Space, task: Task, res: Reservation, now: float) -> None:
    res.reservation_status = "wrapping"
    res.date_updated = now
    tx.save(task, res)
    task.assignment_status = "wrapping"
    task_moved(tx, task, now)
    reservation_event(tx, space, "reservation.wrapup", task, res, now, f"Reservation {res.sid} wrapping up")
    tx.record(space, "task.wrapup", "task", task.sid, f"Task {task.sid} wrapping up", task_data(task, now))


def complete(tx: Transaction, space: Space, task: Task, res: Reservation, reason: str, now: float) -> None:
    task.assignment_status = "completed"
    task.reason = reason
    task_moved(tx, task, now)
    tx.schedule(now + FINAL_TASK_KEPT_SECONDS, "cleanup", task.workspace_sid, task.sid)
    finish_reservation(tx, space, task, res, "completed", now)
    tx.record(space, "task.completed", "task", task.sid, f"Task {task.sid} completed", task_data(task, now))


def remove_task(tx: Transaction, rs: RoutingSpace, task: Task) -> None:
    """The task and its reservations leave every index (a held reservation frees its capacity)."""
    sid = task.sid
    for res in rs.active_reservations(sid):
        release(rs, res)
        res.reservation_status = "canceled"
    rs.waiting.pop(sid, None)
    del rs.tasks[sid]
    rs.task_attrs.pop(sid, None)
    rs.refused.pop(sid, None)
    rs.step_gen.pop(sid, None)
    for res_sid in rs.task_reservations.pop(sid, ()):
        res = rs.reservations.pop(res_sid)
        rs.worker_reservations.get(res.worker_sid, []).remove(res_sid)
        tx.delete("reservation", res_sid)
    tx.delete("task", sid)


def system_delete(tx: Transaction, space: Space, task: Task, now: float) -> None:
    """A canceled or completed task goes FINAL_TASK_KEPT_SECONDS after it ended, as on TaskRouter."""
    remove_task(tx, space.routing, task)
    tx.record(space, "task.system-deleted", "task", task.sid, f"Task {task.sid} deleted by the system",
              task_data(task, now))
