"""TaskQueues: create, read, list, update (a new TargetWorkers rebuilds membership) and delete."""

from __future__ import annotations

from typing import Any, Unpack

from ..errors import bad_parameter, not_found
from ..expression import ExpressionError, Predicate, compile_expression
from ..model import TaskQueue
from ..sids import new_sid
from . import dispatch
from .changes import QueueChanges
from .event_data import task_queue_data, task_queue_expression_data
from .space import Space
from .transaction import Transaction


def _compile_target_workers(text: str) -> Predicate:
    try:
        return compile_expression(text)
    except ExpressionError as exc:  # its message carries the position
        raise bad_parameter(f"Invalid TargetWorkers expression: {exc.message}") from None


def _activity_sid_param(space: Space, name: str, sid: str | None) -> None:
    if sid is not None and sid not in space.activities:
        raise bad_parameter(f"{name} {sid} is not an Activity in Workspace {space.sid}")


def add(
    tx: Transaction,
    space: Space,
    name: str,
    target_workers: str,
    max_reserved: int,
    task_order: str,
    reservation_activity_sid: str | None,
    assignment_activity_sid: str | None,
    now: float,
) -> TaskQueue:
    ws = space.workspace
    queue = TaskQueue(
        new_sid("WQ"), ws.account_sid, ws.sid, name, target_workers, max_reserved, task_order,
        reservation_activity_sid, assignment_activity_sid, now, now,
    )
    rs = space.routing
    rs.queues[queue.sid] = queue
    rs.queue_predicates[queue.sid] = _compile_target_workers(target_workers)
    tx.assign_seq(queue.sid)
    tx.save(queue)
    tx.record(space, "task-queue.created", "taskqueue", queue.sid,
              f"TaskQueue {queue.friendly_name} created", task_queue_data(queue, created=True))
    return queue


def create(
    tx: Transaction,
    space: Space,
    friendly_name: str,
    target_workers: str | None = None,
    max_reserved_workers: int | None = None,
    task_order: str | None = None,
    reservation_activity_sid: str | None = None,
    assignment_activity_sid: str | None = None,
) -> TaskQueue:
    _compile_target_workers(target_workers or "1==1")
    _activity_sid_param(space, "ReservationActivitySid", reservation_activity_sid)
    _activity_sid_param(space, "AssignmentActivitySid", assignment_activity_sid)
    if any(q.friendly_name == friendly_name for q in space.routing.queues.values()):
        raise bad_parameter(f"A TaskQueue named {friendly_name!r} already exists in Workspace {space.sid}")
    return add(
        tx, space, friendly_name, target_workers or "1==1", max_reserved_workers or 1, task_order or "FIFO",
        reservation_activity_sid, assignment_activity_sid, tx.clock(),
    )


def get(space: Space, sid: str) -> TaskQueue:
    queue = space.routing.queues.get(sid)
    if queue is None:
        raise not_found()
    return queue


def list_queues(
    space: Space,
    friendly_name: str | None = None,
    worker_attributes: dict[str, Any] | None = None,
    worker_sid: str | None = None,
) -> list[TaskQueue]:
    rs = space.routing
    worker = None
    if worker_sid is not None:
        worker = space.workers.get(worker_sid)
        if worker is None:
            raise not_found(f"Worker {worker_sid} was not found in Workspace {space.sid}")
    result = []
    for queue in rs.queues.values():
        if friendly_name is not None and queue.friendly_name != friendly_name:
            continue
        if worker_attributes is not None and not rs.queue_predicates[queue.sid](worker_attributes):
            continue
        if worker is not None and worker.sid not in space.queue_members(queue.sid):
            continue
        result.append(queue)
    return result


def update(tx: Transaction, space: Space, sid: str, **changes: Unpack[QueueChanges]) -> TaskQueue:
    rs = space.routing
    queue = get(space, sid)
    target = changes.get("target_workers")
    predicate = _compile_target_workers(target) if target is not None else None
    _activity_sid_param(space, "ReservationActivitySid", changes.get("reservation_activity_sid"))
    _activity_sid_param(space, "AssignmentActivitySid", changes.get("assignment_activity_sid"))
    name = changes.get("friendly_name")
    if name is not None and any(q.friendly_name == name and q.sid != sid for q in rs.queues.values()):
        raise bad_parameter(f"A TaskQueue named {name!r} already exists in Workspace {space.sid}")
    for key, value in changes.items():
        if value is not None:
            setattr(queue, key, value)
    queue.date_updated = tx.clock()
    tx.save(queue)
    if predicate is not None and target != "":
        rs.queue_predicates[sid] = predicate
        rs.members.pop(sid, None)
        tx.record(space, "task-queue.expression.updated", "taskqueue", sid,
                  f"TaskQueue {queue.friendly_name} expression updated", task_queue_expression_data(queue))
    dispatch.route(tx, space)
    return queue


def delete(tx: Transaction, space: Space, sid: str) -> None:
    rs = space.routing
    queue = get(space, sid)
    users = [wf.sid for wf in rs.workflows.values() if sid in rs.configs[wf.sid].queue_sids()]
    if users:
        raise bad_parameter(f"TaskQueue {sid} cannot be deleted: Workflow(s) {', '.join(users)} route to it")
    if any(task.task_queue_sid == sid for task in rs.waiting.values()):
        raise bad_parameter(f"TaskQueue {sid} cannot be deleted while Tasks wait in it")
    del rs.queues[sid]
    rs.queue_predicates.pop(sid, None)
    rs.members.pop(sid, None)
    tx.delete("taskqueue", sid)
    tx.record(space, "task-queue.deleted", "taskqueue", sid,
              f"TaskQueue {queue.friendly_name} deleted", task_queue_data(queue))
