"""Workflows: create, read, list, update (a new Configuration routes waiting tasks afresh) and delete."""

from __future__ import annotations

from typing import Unpack

from ..errors import bad_parameter, not_found
from ..model import Workflow
from ..sids import new_sid
from . import dispatch, walk
from . import workflow_config as wf_config
from .changes import WorkflowChanges
from .event_data import workflow_data
from .space import Space
from .transaction import Transaction


def _parse_configuration(space: Space, text: str) -> wf_config.Configuration:
    try:
        parsed = wf_config.parse(text)
    except wf_config.ConfigurationError as exc:
        raise bad_parameter(f"Invalid Configuration: {exc}") from None
    missing = sorted(sid for sid in parsed.queue_sids() if sid not in space.routing.queues)
    if missing:
        raise bad_parameter(
            f"Invalid Configuration: TaskQueue(s) {', '.join(missing)} not found in Workspace {space.sid}"
        )
    return parsed


def add(
    tx: Transaction,
    space: Space,
    name: str,
    configuration: str,
    callback_url: str | None,
    fallback_url: str | None,
    reservation_timeout: int,
    now: float,
) -> Workflow:
    parsed = _parse_configuration(space, configuration)
    ws = space.workspace
    workflow = Workflow(new_sid("WW"), ws.account_sid, ws.sid, name, configuration, callback_url or None,
                        fallback_url or None, reservation_timeout, now, now)
    space.routing.workflows[workflow.sid] = workflow
    space.routing.configs[workflow.sid] = parsed
    tx.assign_seq(workflow.sid)
    tx.save(workflow)
    tx.record(space, "workflow.created", "workflow", workflow.sid, f"Workflow {name} created",
              workflow_data(workflow))
    return workflow


def create(
    tx: Transaction,
    space: Space,
    friendly_name: str,
    configuration: str,
    assignment_callback_url: str | None = None,
    fallback_assignment_callback_url: str | None = None,
    task_reservation_timeout: int | None = None,
) -> Workflow:
    _parse_configuration(space, configuration)
    return add(
        tx, space, friendly_name, configuration, assignment_callback_url, fallback_assignment_callback_url,
        task_reservation_timeout or 120, tx.clock(),
    )


def get(space: Space, sid: str) -> Workflow:
    workflow = space.routing.workflows.get(sid)
    if workflow is None:
        raise not_found()
    return workflow


def list_workflows(space: Space, friendly_name: str | None = None) -> list[Workflow]:
    return [
        wf for wf in space.routing.workflows.values()
        if friendly_name is None or wf.friendly_name == friendly_name
    ]


def update(
    tx: Transaction, space: Space, sid: str, *, re_evaluate_tasks: bool | None = None,
    **changes: Unpack[WorkflowChanges],
) -> Workflow:
    rs = space.routing
    workflow = get(space, sid)
    configuration = changes.get("configuration")
    parsed = _parse_configuration(space, configuration) if configuration else None
    now = tx.clock()
    for key, value in changes.items():
        if value is not None:
            setattr(workflow, key, value or None if key.endswith("_url") else value)
    if parsed is not None:
        rs.configs[sid] = parsed
    workflow.date_updated = now
    tx.save(workflow)
    tx.record(space, "workflow.updated", "workflow", sid, f"Workflow {workflow.friendly_name} updated",
              workflow_data(workflow))
    if re_evaluate_tasks or parsed is not None:
        # A new configuration routes waiting tasks afresh; tasks with a pending reservation keep it.
        for task in list(rs.waiting.values()):
            if task.workflow_sid == sid and task.routing_target is None and not rs.active_reservations(task.sid):
                walk.enter_workflow(tx, space, task, now)
    dispatch.route(tx, space)
    return workflow


def delete(tx: Transaction, space: Space, sid: str) -> None:
    rs = space.routing
    workflow = get(space, sid)
    if any(t.workflow_sid == sid and t.assignment_status in ("pending", "reserved", "assigned", "wrapping")
           for t in rs.tasks.values()):
        raise bad_parameter(f"Workflow {sid} cannot be deleted while it has active Tasks")
    del rs.workflows[sid]
    del rs.configs[sid]
    tx.delete("workflow", sid)
    tx.record(space, "workflow.deleted", "workflow", sid, f"Workflow {workflow.friendly_name} deleted",
              workflow_data(workflow))
