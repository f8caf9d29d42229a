"""Tasks: create (into the workflow walk or straight to a RoutingTarget), read, update (attributes,
priority, channel, and the status moves a client may ask for), delete."""

from __future__ import annotations

import orjson

from ..errors import bad_parameter, check_if_match, not_found
from ..model import Task, TaskChannel
from ..sids import new_sid
from . import dispatch, ranking, transitions, walk
from .changes import DEFAULT_TASK_TIMEOUT, TaskChange, TaskFilters, wrong_state
from .event_data import task_data
from .space import WAITING_TASK, RoutingSpace, Space
from .transaction import Transaction


def channel_param(space: Space, value: str | None) -> TaskChannel:
    rs = space.routing
    key = value or "default"
    channel = rs.channels.get(key) or rs.channels.get(rs.channel_names.get(key, ""))
    if channel is None:
        raise bad_parameter(f"TaskChannel {key!r} is not a TaskChannel SID or unique name in this Workspace")
    return channel


def create(
    tx: Transaction,
    space: Space,
    *,
    attributes: str | None = None,
    priority: int | None = None,
    timeout: int | None = None,
    task_channel: str | None = None,
    workflow_sid: str | None = None,
    virtual_start_time: float | None = None,
    routing_target: str | None = None,
    ignore_capacity: bool | None = None,
    task_queue_sid: str | None = None,
) -> Task:
    rs = space.routing
    workspace_sid = space.sid
    channel = channel_param(space, task_channel)
    if workflow_sid is not None and workflow_sid not in rs.workflows:
        raise bad_parameter(f"WorkflowSid {workflow_sid} is not a Workflow in Workspace {workspace_sid}")
    if task_queue_sid is not None and task_queue_sid not in rs.queues:
        raise bad_parameter(f"TaskQueueSid {task_queue_sid} is not a TaskQueue in Workspace {workspace_sid}")
    if routing_target is not None:
        if routing_target not in space.workers:
            raise bad_parameter(f"RoutingTarget {routing_target} is not a Worker in Workspace {workspace_sid}")
        if task_queue_sid is None and workflow_sid is None:
            raise bad_parameter("RoutingTarget needs a TaskQueueSid or a WorkflowSid")
    elif workflow_sid is None:
        if len(rs.workflows) != 1:
            raise bad_parameter("Missing required parameter WorkflowSid in the post body")
        workflow_sid = next(iter(rs.workflows))
    now = tx.clock()
    attrs = attributes if attributes is not None else "{}"
    ws = space.workspace
    task = Task(
        sid=new_sid("WT"),
        account_sid=ws.account_sid,
        workspace_sid=ws.sid,
        attributes=attrs,
        priority=priority or 0,
        timeout=timeout or DEFAULT_TASK_TIMEOUT,
        task_channel_sid=channel.sid,
        workflow_sid=workflow_sid,
        routing_target=routing_target,
        ignore_capacity=bool(ignore_capacity),
        date_created=now,
        date_updated=now,
        virtual_start_time=virtual_start_time if virtual_start_time is not None else now,
    )
    rs.tasks[task.sid] = task
    rs.task_attrs[task.sid] = orjson.loads(attrs)
    task.seq = tx.assign_seq(task.sid)
    tx.save(task)
    tx.record(space, "task.created", "task", task.sid, f"Task {task.sid} created", task_data(task, now, queue=False))
    tx.schedule(now + task.timeout, "ttl", ws.sid, task.sid)
    if routing_target is not None:
        queue_sid = task_queue_sid or _first_queue(rs, workflow_sid)
        walk.enter_queue(tx, space, task, queue_sid, None, now)
    else:
        walk.enter_workflow(tx, space, task, now)
    dispatch.route(tx, space)
    task.version = 0  # the created task's first ETag, whatever routing did while creating it
    return task


def _first_queue(rs: RoutingSpace, workflow_sid: str | None) -> str:
    configuration = rs.configs[workflow_sid or ""]
    for filter_index in (*range(len(configuration.filters)), -1):
        for target in configuration.targets(filter_index):
            return target.queue
    raise bad_parameter("The Workflow has no target queue for the RoutingTarget")  # unreachable: parse checks


def get(space: Space, sid: str) -> Task:
    task = space.routing.tasks.get(sid)
    if task is None:
        raise not_found()
    return task


def names(space: Space, task: Task) -> tuple[str | None, str | None, str | None]:
    """The task's queue name, workflow name and channel unique name, for rendering."""
    rs = space.routing
    queue = rs.queues.get(task.task_queue_sid or "")
    workflow = rs.workflows.get(task.workflow_sid or "")
    channel = rs.channels.get(task.task_channel_sid)
    return (
        queue.friendly_name if queue else None,
        workflow.friendly_name if workflow else None,
        channel.unique_name if channel else None,
    )


def list_tasks(space: Space, filters: TaskFilters) -> list[Task]:
    rs = space.routing
    result = []
    for task in rs.tasks.values():
        if filters.priority is not None and task.priority != filters.priority:
            continue
        if filters.assignment_status and task.assignment_status not in filters.assignment_status:
            continue
        if filters.workflow_sid is not None and task.workflow_sid != filters.workflow_sid:
            continue
        if filters.workflow_name is not None:
            workflow = rs.workflows.get(task.workflow_sid or "")
            if workflow is None or workflow.friendly_name != filters.workflow_name:
                continue
        if filters.task_queue_sid is not None and task.task_queue_sid != filters.task_queue_sid:
            continue
        if filters.task_queue_name is not None:
            queue = rs.queues.get(task.task_queue_sid or "")
            if queue is None or queue.friendly_name != filters.task_queue_name:
                continue
        if filters.routing_target is not None and task.routing_target != filters.routing_target:
            continue
        if filters.expression is not None and not filters.expression(rs.task_attrs[task.sid]):
            continue
        result.append(task)
    return result  # in creation order; the handler sorts by Ordering (it pages by the same key)


def check_etag(task: Task, if_match: str | None) -> None:
    check_if_match(if_match, task.version, f"Task {task.sid}")


def update(tx: Transaction, space: Space, sid: str, change: TaskChange, if_match: str | None = None) -> Task:
    rs = space.routing
    task = get(space, sid)
    check_etag(task, if_match)
    channel = channel_param(space, change.task_channel) if change.task_channel is not None else None
    status = change.assignment_status
    ws = space.workspace
    where = f"task {sid} in workspace {ws.sid} for account {ws.account_sid}"
    if status == "canceled" and task.assignment_status not in WAITING_TASK:
        raise wrong_state(f"Cannot cancel {where} because it is not pending or reserved")
    if status == "wrapping" and task.assignment_status != "assigned":
        raise wrong_state(f"Cannot wrap up {where} because it is not assigned")
    if status == "completed" and task.assignment_status not in ("assigned", "wrapping"):
        raise wrong_state(f"Cannot complete {where} because it is not assigned or wrapping")
    now = tx.clock()
    before = task.version
    changed = False
    if change.attributes is not None and change.attributes != task.attributes:
        task.attributes = change.attributes
        rs.task_attrs[sid] = orjson.loads(change.attributes)
        changed = True
    if change.priority is not None and change.priority != ranking.effective_priority(task):
        task.priority = change.priority
        task.target_priority = None  # an explicit priority outranks the target's set-priority
        changed = True
    if channel is not None and channel.sid != task.task_channel_sid:
        task.task_channel_sid = channel.sid
        changed = True
    if change.virtual_start_time is not None:
        task.virtual_start_time = change.virtual_start_time
        changed = True
    if changed:  # status changes move the version in their transition (cancel_task, wrapup, ...)
        transitions.task_moved(tx, task, now)
        tx.record(space, "task.updated", "task", sid, f"Task {sid} updated", task_data(task, now))
        if (change.attributes is not None and task.assignment_status == "pending"
                and task.routing_target is None and sid in rs.waiting):
            walk.enter_workflow(tx, space, task, now)  # new attributes may match another filter
    if status == "canceled":
        transitions.cancel_task(tx, space, task, change.reason or "", now)
    elif status == "wrapping":
        (res,) = rs.active_reservations(sid, "accepted")
        transitions.wrapup(tx, space, task, res, now)
    elif status == "completed":
        (res,) = rs.active_reservations(sid)
        transitions.complete(tx, space, task, res, change.reason or "", now)
    dispatch.route(tx, space)
    if task.version != before:
        task.version = before + 1  # one request, one new ETag, however many steps it took
    return task


def delete(tx: Transaction, space: Space, sid: str, if_match: str | None = None) -> None:
    task = get(space, sid)
    check_etag(task, if_match)
    now = tx.clock()
    transitions.remove_task(tx, space.routing, task)
    tx.record(space, "task.deleted", "task", sid, f"Task {sid} deleted", task_data(task, now))
    dispatch.route(tx, space)
