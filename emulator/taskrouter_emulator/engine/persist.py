"""Reading the state file at start-up: every workspace's records, the recorded calls and the creation order,
with each RoutingSpace's indexes, capacity use and timers rebuilt. Rows are written by transaction.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from ..expression import ExpressionError, compile_expression
from ..model import (
    Activity,
    Call,
    CallEvent,
    Event,
    Reservation,
    Task,
    TaskChannel,
    TaskQueue,
    Worker,
    WorkerChannel,
    Workflow,
    Workspace,
)
from ..persistence import StateFile
from . import workflow_config as wf_config
from .space import ACTIVE_RESERVATION, FINAL_TASK, FINAL_TASK_KEPT_SECONDS, WAITING_TASK, RoutingSpace, Space

KINDS: dict[str, type] = {
    "taskchannel": TaskChannel,
    "taskqueue": TaskQueue,
    "workflow": Workflow,
    "task": Task,
    "reservation": Reservation,
    "workerchannel": WorkerChannel,
}
KIND_OF: dict[type, str] = {cls: kind for kind, cls in KINDS.items()}

Schedule = Callable[[float, str, str, str, int], None]


def load(
    state_file: StateFile, spaces: dict[str, Space], calls: dict[str, Call], seq: dict[str, int], schedule: Schedule
) -> int:
    """Fill `spaces`, `calls` and `seq` from the state file; returns the next free creation seq."""
    max_seq = 0
    routing_rows: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for row in state_file.load():
        max_seq = max(max_seq, row.seq)
        seq[row.sid] = row.seq
        data = row.data
        if row.kind == "workspace":
            spaces[row.sid] = Space(Workspace(**data))
        elif row.kind == "call":
            events = [CallEvent(**event) for event in data.pop("events")]
            calls[row.sid] = Call(**data, events=events)
        else:
            space = spaces.get(row.workspace_sid or "")
            if space is None:
                continue  # an orphan of a workspace deleted mid-write; ignore it
            if row.kind == "activity":
                space.activities[row.sid] = Activity(**data)
            elif row.kind == "worker":
                worker = Worker(**data)
                space.workers[row.sid] = worker
                space.names[worker.friendly_name.casefold()] = worker.sid
            elif row.kind == "event":
                space.events.append(Event(**data))
            else:  # task routing records, rebuilt together below (they index each other)
                routing_rows.setdefault(space.sid, []).append((row.kind, data))
    for sid, space in spaces.items():
        rebuild(space.routing, routing_rows.get(sid, []), schedule)
    return max_seq + 1


def rebuild(rs: RoutingSpace, rows: list[tuple[str, dict[str, Any]]], schedule: Schedule) -> None:
    """Fill `rs` from (kind, data) rows in creation order and re-arm the timers of what is still open."""
    for kind, data in rows:
        record = KINDS[kind](**data)
        if isinstance(record, TaskChannel):
            rs.channels[record.sid] = record
            rs.channel_names[record.unique_name] = record.sid
        elif isinstance(record, TaskQueue):
            try:
                rs.queue_predicates[record.sid] = compile_expression(record.target_workers)
            except ExpressionError:
                continue  # cannot happen for a saved queue; skip rather than refuse to start
            rs.queues[record.sid] = record
        elif isinstance(record, Workflow):
            try:
                rs.configs[record.sid] = wf_config.parse(record.configuration)
            except wf_config.ConfigurationError:
                continue
            rs.workflows[record.sid] = record
        elif isinstance(record, Task):
            rs.tasks[record.sid] = record
            rs.task_attrs[record.sid] = orjson.loads(record.attributes)
            rs.step_gen[record.sid] = 1
            if record.assignment_status in WAITING_TASK and record.task_queue_sid:
                rs.waiting[record.sid] = record
        elif isinstance(record, Reservation):
            rs.reservations[record.sid] = record
            rs.task_reservations.setdefault(record.task_sid, []).append(record.sid)
            rs.worker_reservations.setdefault(record.worker_sid, []).append(record.sid)
            if record.reservation_status in ACTIVE_RESERVATION:
                channels = rs.load.setdefault(record.worker_sid, {})
                channels[record.task_channel_sid] = channels.get(record.task_channel_sid, 0) + 1
            if record.reservation_status in ("rejected", "timeout"):
                rs.refused.setdefault(record.task_sid, set()).add(record.worker_sid)
        elif isinstance(record, WorkerChannel):
            rs.worker_channels[(record.worker_sid, record.task_channel_sid)] = record
    for task in rs.waiting.values():
        schedule(task.date_created + task.timeout, "ttl", task.workspace_sid, task.sid, 0)
        config = rs.configs.get(task.workflow_sid or "")
        if config is not None and task.routing_target is None:
            targets = config.targets(task.filter_index)
            if task.target_index < len(targets) and targets[task.target_index].timeout is not None:
                due = task.workflow_entered + (targets[task.target_index].timeout or 0)
                schedule(due, "step", task.workspace_sid, task.sid, 1)
    for task in rs.tasks.values():
        if task.assignment_status in FINAL_TASK:
            schedule(task.date_updated + FINAL_TASK_KEPT_SECONDS, "cleanup", task.workspace_sid, task.sid, 0)
    for res in rs.reservations.values():
        if res.reservation_status == "pending":
            schedule(res.date_created + res.timeout, "reservation", res.workspace_sid, res.sid, 0)
