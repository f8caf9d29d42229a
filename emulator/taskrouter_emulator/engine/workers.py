"""Workers: create, read, list (with the Workers list's filters), update (name, attributes, activity) and
delete, with what routing must know of each change (queue membership, idle time, a new routing pass)."""

from __future__ import annotations

from .. import defaults, event_log
from ..errors import bad_parameter, check_if_match, not_found
from ..model import Activity, Worker
from ..sids import new_sid
from . import dispatch, transitions, worker_activity
from .changes import WorkerChange, WorkerFilters
from .space import Space
from .transaction import Transaction


def activity_param(space: Space, activity_sid: str) -> Activity:
    act = space.activities.get(activity_sid)
    if act is None:
        raise bad_parameter(f"ActivitySid {activity_sid} is not an Activity in Workspace {space.sid}")
    return act


def _check_name_free(space: Space, friendly_name: str, own_sid: str | None = None) -> None:
    holder = space.names.get(friendly_name.casefold())
    if holder is not None and holder != own_sid:
        raise bad_parameter(
            f"A Worker named {friendly_name!r} already exists in Workspace {space.sid} "
            "(Worker names are unique, ignoring case)"
        )


def create(
    tx: Transaction, space: Space, friendly_name: str, activity_sid: str | None = None, attributes: str | None = None
) -> tuple[Worker, Activity]:
    ws = space.workspace
    act = activity_param(space, activity_sid or ws.default_activity_sid or "")
    _check_name_free(space, friendly_name)
    if len(space.workers) >= defaults.MAX_WORKERS_PER_WORKSPACE:
        raise bad_parameter(
            f"Workspace {ws.sid} already has the maximum of {defaults.MAX_WORKERS_PER_WORKSPACE} Workers"
        )
    now = tx.clock()
    worker = Worker(
        sid=new_sid("WK"),
        account_sid=ws.account_sid,
        workspace_sid=ws.sid,
        friendly_name=friendly_name,
        activity_sid=act.sid,
        attributes=attributes if attributes is not None else "{}",
        version=0,
        date_created=now,
        date_updated=now,
        date_status_changed=now,
    )
    space.workers[worker.sid] = worker
    space.names[friendly_name.casefold()] = worker.sid
    tx.assign_seq(worker.sid)
    tx.put("worker", worker, ws.sid)
    tx.record(space, "worker.created", "worker", worker.sid, f"Worker {friendly_name} created",
              event_log.worker_data(worker, act))
    _changed(tx, space, worker, attributes=True, now=now)
    return worker, act


def get(space: Space, sid: str) -> tuple[Worker, Activity]:
    worker = space.workers.get(sid)
    if worker is None:
        raise not_found()
    return worker, space.activities[worker.activity_sid]


def _check_etag(worker: Worker, if_match: str | None) -> None:
    check_if_match(if_match, worker.version, f"Worker {worker.sid}")


def update(
    tx: Transaction, space: Space, sid: str, change: WorkerChange, if_match: str | None = None
) -> tuple[Worker, Activity]:
    worker, current = get(space, sid)
    _check_etag(worker, if_match)
    new_activity = activity_param(space, change.activity_sid) if change.activity_sid else current
    if change.friendly_name is not None:
        _check_name_free(space, change.friendly_name, own_sid=sid)
    if change.reject_pending_reservations and new_activity.available:
        raise bad_parameter(
            "RejectPendingReservations is only valid when the Worker's new Activity is unavailable "
            f"(Activity {new_activity.friendly_name} is available)"
        )
    activity_changed = new_activity.sid != worker.activity_sid
    new_attributes = change.attributes if change.attributes != worker.attributes else None
    new_name = change.friendly_name if change.friendly_name != worker.friendly_name else None
    if not (activity_changed or new_attributes is not None or new_name is not None):
        return worker, current
    now = tx.clock()
    if new_name is not None:
        del space.names[worker.friendly_name.casefold()]
        worker.friendly_name = new_name
        space.names[new_name.casefold()] = sid
    if change.reject_pending_reservations:
        _reject_pending(tx, space, worker, now)
    previous = worker_activity.move(tx, space, worker, new_activity, bump=False) if activity_changed else None
    if new_attributes is not None:
        worker.attributes = new_attributes
        space.parsed_attributes.pop(sid, None)
    worker.version += 1
    worker.date_updated = now
    tx.put("worker", worker, space.sid)
    if previous is not None:
        worker_activity.record_move(tx, space, worker, new_activity, previous)
    if new_attributes is not None:
        tx.record(space, "worker.attributes.update", "worker", sid,
                  f"Worker {worker.friendly_name} updated attributes", event_log.worker_data(worker, new_activity))
    _changed(tx, space, worker, attributes=new_attributes is not None, now=now)
    return worker, new_activity


def delete(tx: Transaction, space: Space, sid: str, if_match: str | None = None) -> None:
    worker, act = get(space, sid)
    _check_etag(worker, if_match)
    rs = space.routing
    if rs.held(worker.sid):
        raise bad_parameter(
            f"Worker {worker.sid} cannot be deleted while it holds Reservations; complete or reject them first"
        )
    del space.workers[sid]
    for members in rs.members.values():
        members.discard(sid)
    rs.idle_since.pop(sid, None)
    rs.load.pop(sid, None)
    for key in [key for key in rs.worker_channels if key[0] == sid]:
        tx.delete("workerchannel", rs.worker_channels.pop(key).sid)
    del space.names[worker.friendly_name.casefold()]
    space.parsed_attributes.pop(sid, None)
    tx.delete("worker", sid)
    tx.record(space, "worker.deleted", "worker", sid, f"Worker {worker.friendly_name} deleted",
              event_log.worker_data(worker, act))


def list_workers(space: Space, filters: WorkerFilters, seq: dict[str, int]) -> list[tuple[Worker, Activity]]:
    """Matching workers with their activities, in creation order or by DateStatusChanged."""
    members = None
    if filters.task_queue_sid is not None or filters.task_queue_name is not None:
        members = queue_member_sids(space, filters.task_queue_sid, filters.task_queue_name)
    folded_name = filters.friendly_name.casefold() if filters.friendly_name is not None else None
    activities = space.activities
    result = []
    for worker in space.workers.values():
        if members is not None and worker.sid not in members:
            continue
        act = activities[worker.activity_sid]
        if filters.activity_sid is not None and worker.activity_sid != filters.activity_sid:
            continue
        if filters.activity_name is not None and act.friendly_name != filters.activity_name:
            continue
        if filters.available is not None and act.available != filters.available:
            continue
        if folded_name is not None and worker.friendly_name.casefold() != folded_name:
            continue
        if filters.expression is not None and not filters.expression(space.expression_view(worker, act)):
            continue
        result.append((worker, act))
    if filters.ordering is not None:
        descending = filters.ordering.endswith(":desc")
        result.sort(key=lambda pair: (pair[0].date_status_changed, seq[pair[0].sid]), reverse=descending)
    return result


def queue_member_sids(space: Space, queue_sid: str | None, queue_name: str | None) -> set[str]:
    """The Workers list's TaskQueueSid/TaskQueueName filters: the workers the queue targets."""
    rs = space.routing
    if queue_sid is not None:
        if queue_sid not in rs.queues:
            raise not_found(f"TaskQueue {queue_sid} was not found in Workspace {space.sid}")
        return set(space.queue_members(queue_sid))
    found: set[str] = set()
    for queue in rs.queues.values():
        if queue.friendly_name == queue_name:
            found |= space.queue_members(queue.sid)
    return found


def _changed(tx: Transaction, space: Space, worker: Worker, *, attributes: bool, now: float) -> None:
    """What routing must know of a new or changed worker: queue membership, idle time, then a pass."""
    rs = space.routing
    if attributes:
        view = space.worker_view(worker)
        for queue_sid, members in rs.members.items():
            if rs.queue_predicates[queue_sid](view):
                members.add(worker.sid)
            else:
                members.discard(worker.sid)
    rs.idle_since.setdefault(worker.sid, now)
    dispatch.route(tx, space)


def _reject_pending(tx: Transaction, space: Space, worker: Worker, now: float) -> None:
    rs = space.routing
    for sid in list(rs.worker_reservations.get(worker.sid, ())):
        res = rs.reservations[sid]
        if res.reservation_status == "pending":
            transitions.end_pending(tx, space, res, "rejected", now)
