"""The routing pass: which free workers each waiting task may go to, and the reservations it makes.
Linear in workers per pass: the free workers are found once, and each task walks the smaller of its queue's
members and the free workers."""

from __future__ import annotations

from ..model import Task, TaskChannel, TaskQueue, Worker, WorkerChannel
from ..sids import new_sid
from . import ranking, transitions
from . import workflow_config as wf_config
from .space import RoutingSpace, Space
from .transaction import Transaction


def worker_channel(tx: Transaction, space: Space, worker_sid: str, channel: TaskChannel) -> WorkerChannel:
    """The worker's capacity on a channel, made (capacity 1, available) the first time anything asks."""
    rs = space.routing
    key = (worker_sid, channel.sid)
    wc = rs.worker_channels.get(key)
    if wc is None:
        worker = space.workers[worker_sid]
        ws = space.workspace
        wc = rs.worker_channels[key] = WorkerChannel(
            new_sid("WC"), ws.account_sid, ws.sid, worker_sid, channel.sid, channel.unique_name, 1, True,
            worker.date_created, worker.date_created,
        )
        tx.assign_seq(wc.sid)
        tx.save(wc)
    return wc


def free_workers(space: Space) -> dict[str, Worker]:
    """Workers that could take a task now: an available activity, and (single-tasking) no task held."""
    rs = space.routing
    activities = space.activities
    multitask = space.workspace.multi_task_enabled
    return {
        sid: worker for sid, worker in space.workers.items()
        if activities[worker.activity_sid].available and (multitask or not rs.held(sid))
    }


def _has_capacity(tx: Transaction, space: Space, worker_sid: str, task: Task) -> bool:
    rs = space.routing
    if not space.workspace.multi_task_enabled:
        return not rs.held(worker_sid)
    wc = worker_channel(tx, space, worker_sid, rs.channels[task.task_channel_sid])
    if not wc.available:
        return False
    return task.ignore_capacity or rs.load.get(worker_sid, {}).get(task.task_channel_sid, 0) < wc.configured_capacity


def candidates(tx: Transaction, space: Space, task: Task, queue: TaskQueue, target: wf_config.Target | None,
               free: dict[str, Worker]) -> list[str]:
    rs = space.routing
    seq = tx.registry.seq
    excluded = rs.refused.get(task.sid, set()) | {r.worker_sid for r in rs.active_reservations(task.sid)}
    task_attrs = rs.task_attrs[task.sid]
    known: str | None = None
    if task.routing_target is not None:
        known = task.routing_target
    elif target is not None and target.known_worker_sid is not None:
        known = wf_config.resolve_known(target.known_worker_sid, task_attrs) or ""
    elif target is not None and target.known_worker_friendly_name is not None:
        name = wf_config.resolve_known(target.known_worker_friendly_name, task_attrs) or ""
        known = space.names.get(name.casefold(), "")
    if known is not None:
        pool: list[str] = [known] if known in free else []
    else:
        # Walk the smaller side of (queue members, free workers): a pass stays linear in workers.
        members = space.queue_members(queue.sid)
        if len(members) < len(free):
            pool = sorted((sid for sid in members if sid in free), key=seq.__getitem__)
        else:
            pool = [sid for sid in free if sid in members]
    found = []
    for sid in pool:
        if sid in excluded:
            continue
        if not _has_capacity(tx, space, sid, task):
            continue
        if target is not None and target.expression is not None and known is None:
            view = wf_config.TargetView(space.worker_view(free[sid]), task_attrs)
            if not target.expression(view):
                continue
        found.append(sid)
    return found


def _current_target(rs: RoutingSpace, task: Task) -> wf_config.Target | None:
    if task.routing_target is not None or task.workflow_sid not in rs.configs:
        return None
    targets = rs.configs[task.workflow_sid or ""].targets(task.filter_index)
    return targets[task.target_index] if task.target_index < len(targets) else None


def route(tx: Transaction, space: Space) -> None:
    """One routing pass: every waiting task, queue by queue in queue order, gets reservations up to its
    queue's MaxReservedWorkers from the workers free now."""
    rs = space.routing
    if not rs.waiting:
        return
    free = free_workers(space)
    if not free:
        return
    by_queue: dict[str, list[Task]] = {}
    for task in rs.waiting.values():
        by_queue.setdefault(task.task_queue_sid or "", []).append(task)
    now = tx.clock()
    seq = tx.registry.seq
    # Queues in creation order, those of the workspace's PrioritizeQueueOrder kind (FIFO or LIFO) first.
    preferred = space.workspace.prioritize_queue_order
    order = sorted((sid for sid in rs.queues if sid in by_queue),
                   key=lambda sid: rs.queues[sid].task_order != preferred)
    for queue_sid in order:
        queue = rs.queues[queue_sid]
        for task in sorted(by_queue[queue_sid], key=lambda t: ranking.queue_order_key(queue, t)):
            if not free:
                return
            if task.sid not in rs.waiting:
                continue
            wanted = queue.max_reserved_workers - len(rs.active_reservations(task.sid, "pending"))
            if wanted <= 0:
                continue
            target = _current_target(rs, task)
            found = candidates(tx, space, task, queue, target, free)
            if not found:
                continue
            ranked = ranking.rank_workers(
                [(sid, space.worker_view(free[sid]), _idle_since(space, free[sid]), seq[sid]) for sid in found],
                target.order_by if target is not None else (),
            )
            for sid in ranked[:wanted]:
                worker = free[sid]
                transitions.reserve(tx, space, task, worker, queue, now)
                if not space.activities[worker.activity_sid].available or not (
                    space.workspace.multi_task_enabled
                ):
                    del free[sid]


def _idle_since(space: Space, worker: Worker) -> float:
    return max(worker.date_status_changed, space.routing.idle_since.get(worker.sid, 0.0))
