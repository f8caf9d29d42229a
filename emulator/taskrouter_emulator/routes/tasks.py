"""/v1/Workspaces/{WorkspaceSid}/Tasks[/{Sid}], with If-Match on update and delete (ETag: the version)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from .. import paging, params, render, render_tasks
from ..errors import bad_parameter
from ..model import Task
from ..store import MAX_TASK_TIMEOUT, TaskChange, TaskFilters
from .common import context, expression_param, list_response, no_content, read_form

STATUSES = ("pending", "reserved", "assigned", "canceled", "completed", "wrapping")
UPDATE_STATUSES = ("canceled", "wrapping", "completed")
ORDER_FIELDS = {"datecreated": "DateCreated", "priority": "Priority", "virtualstarttime": "VirtualStartTime"}
MAX_PRIORITY = 2**31 - 1


def etag(task: Task) -> str:
    return f'"{task.version}"'


def _single(request: web.Request, task: Task, status: int = 200) -> web.Response:
    store = context(request).store
    body = render_tasks.task(
        context(request).base(request), task, store.task_names(task), store.clock(), with_attributes=True
    )
    return render.json_response(body, status=status, headers={"ETag": etag(task)})


def _ordering(value: str | None) -> tuple[tuple[str, bool], ...]:
    if value is None:
        return ()
    rules = []
    for part in value.split(","):
        field, _, order = part.strip().partition(":")
        name = ORDER_FIELDS.get(field.lower())
        if name is None or order.lower() not in ("asc", "desc"):
            raise bad_parameter(
                f"Ordering must be Attribute:Order pairs (DateCreated, Priority or VirtualStartTime; asc or desc), "
                f"got {value!r}"
            )
        rules.append((name, order.lower() == "desc"))
    return tuple(rules)


def _statuses(request: web.Request) -> tuple[str, ...]:
    values = [part.strip() for value in request.query.getall("AssignmentStatus", []) for part in value.split(",")]
    values = [value for value in values if value]
    unknown = [value for value in values if value not in STATUSES]
    if unknown:
        raise bad_parameter(f"AssignmentStatus must be among {', '.join(STATUSES)}, got {', '.join(unknown)}")
    return tuple(values)


async def list_tasks(request: web.Request) -> web.Response:
    ctx = context(request)
    workspace_sid = request.match_info["workspace_sid"]
    ctx.store.get_workspace(workspace_sid)
    query = request.query
    ordering = _ordering(params.text(query, "Ordering"))
    has_addons = params.strict_bool(query, "HasAddons")
    filters = TaskFilters(
        priority=params.integer(query, "Priority", minimum=0, maximum=MAX_PRIORITY),
        assignment_status=_statuses(request),
        workflow_sid=params.sid(query, "WorkflowSid", "WW"),
        workflow_name=params.text(query, "WorkflowName"),
        task_queue_sid=params.sid(query, "TaskQueueSid", "WQ"),
        task_queue_name=params.text(query, "TaskQueueName"),
        expression=expression_param(params.text(query, "EvaluateTaskAttributes"), "EvaluateTaskAttributes"),
        routing_target=params.text(query, "RoutingTarget"),
    )
    scope = "tasks:" + ",".join(f"{name}:{int(desc)}" for name, desc in ordering)
    page_request = paging.parse_page_request(query, scope)
    found = [] if has_addons else ctx.store.list_tasks(workspace_sid, filters)  # no Task has Add-ons here
    fields = {"DateCreated": "date_created", "Priority": "priority", "VirtualStartTime": "virtual_start_time"}

    def key(task: Task) -> paging.SortKey:
        parts: list[Any] = [(-1 if desc else 1) * getattr(task, fields[name]) for name, desc in ordering]
        return (*parts, task.seq)

    sort_key: Callable[[Task], paging.SortKey] = key
    found.sort(key=sort_key)
    page = paging.paginate(found, sort_key, page_request, scope)
    base, now = ctx.base(request), ctx.store.clock()
    records = [
        render_tasks.task(base, task, ctx.store.task_names(task), now, with_attributes=False) for task in page.items
    ]
    return list_response(request, "tasks", records, page_request, page)


async def create_task(request: web.Request) -> web.Response:
    ctx = context(request)
    workspace_sid = request.match_info["workspace_sid"]
    ctx.store.get_workspace(workspace_sid)
    form = await read_form(request)
    task = ctx.store.create_task(
        workspace_sid,
        attributes=params.json_object(form, "Attributes"),
        priority=params.integer(form, "Priority", minimum=0, maximum=MAX_PRIORITY),
        timeout=params.integer(form, "Timeout", minimum=1, maximum=MAX_TASK_TIMEOUT),
        task_channel=params.text(form, "TaskChannel"),
        workflow_sid=params.sid(form, "WorkflowSid", "WW"),
        virtual_start_time=params.date_time(form, "VirtualStartTime"),
        routing_target=params.sid(form, "RoutingTarget", "WK"),
        ignore_capacity=params.strict_bool(form, "IgnoreCapacity"),
        task_queue_sid=params.sid(form, "TaskQueueSid", "WQ"),
    )
    return _single(request, task, status=201)


async def fetch_task(request: web.Request) -> web.Response:
    match = request.match_info
    return _single(request, context(request).store.get_task(match["workspace_sid"], match["sid"]))


async def update_task(request: web.Request) -> web.Response:
    ctx = context(request)
    match = request.match_info
    ctx.store.get_task(match["workspace_sid"], match["sid"])
    form = await read_form(request)
    change = TaskChange(
        attributes=params.json_object(form, "Attributes"),
        assignment_status=params.choice(form, "AssignmentStatus", UPDATE_STATUSES),
        reason=params.text(form, "Reason"),
        priority=params.integer(form, "Priority", minimum=0, maximum=MAX_PRIORITY),
        task_channel=params.text(form, "TaskChannel"),
        virtual_start_time=params.date_time(form, "VirtualStartTime"),
    )
    task = ctx.store.update_task(match["workspace_sid"], match["sid"], change, if_match=request.headers.get("If-Match"))
    return _single(request, task)


async def delete_task(request: web.Request) -> web.Response:
    match = request.match_info
    context(request).store.delete_task(match["workspace_sid"], match["sid"], if_match=request.headers.get("If-Match"))
    return no_content()


def register(app: web.Application) -> None:
    base = "/v1/Workspaces/{workspace_sid}/Tasks"
    app.router.add_get(base, list_tasks, allow_head=False)
    app.router.add_post(base, create_task)
    app.router.add_get(base + "/{sid}", fetch_task, allow_head=False)
    app.router.add_post(base + "/{sid}", update_task)
    app.router.add_delete(base + "/{sid}", delete_task)
