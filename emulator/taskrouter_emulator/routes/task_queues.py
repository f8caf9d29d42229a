"""/v1/Workspaces/{WorkspaceSid}/TaskQueues[/{Sid}]."""

from __future__ import annotations

from collections.abc import Callable

import orjson
from aiohttp import web

from .. import paging, params, render, render_tasks
from ..model import TaskQueue
from .common import choice_ci, context, list_response, no_content, read_form

TASK_ORDERS = ("FIFO", "LIFO")
ORDERINGS = ("DateCreated:asc", "DateCreated:desc", "DateUpdated:asc", "DateUpdated:desc")


def _render(request: web.Request, queue: TaskQueue) -> dict:
    ctx = context(request)
    activities = ctx.store.list_activities(queue.workspace_sid)
    by_sid = {act.sid: act for act in activities}
    return render_tasks.task_queue(
        ctx.base(request), queue, by_sid.get(queue.reservation_activity_sid or ""),
        by_sid.get(queue.assignment_activity_sid or ""),
    )


async def list_queues(request: web.Request) -> web.Response:
    ctx = context(request)
    workspace_sid = request.match_info["workspace_sid"]
    ctx.store.get_workspace(workspace_sid)
    query = request.query
    evaluate = params.json_object(query, "EvaluateWorkerAttributes")
    ordering = choice_ci(params.text(query, "Ordering"), "Ordering", ORDERINGS)
    scope = f"task_queues:{ordering or 'created'}"
    page_request = paging.parse_page_request(query, scope)
    found = ctx.store.list_task_queues(
        workspace_sid,
        friendly_name=params.text(query, "FriendlyName"),
        worker_attributes=orjson.loads(evaluate) if evaluate is not None else None,
        worker_sid=params.sid(query, "WorkerSid", "WK"),
    )
    seq = ctx.store.sort_key
    key: Callable[[TaskQueue], paging.SortKey]
    if ordering is None:
        key = lambda q: (seq(q.sid),)
    else:
        field = "date_created" if ordering.startswith("DateCreated") else "date_updated"
        sign = -1 if ordering.endswith(":desc") else 1
        key = lambda q: (sign * getattr(q, field), sign * seq(q.sid))
    found.sort(key=key)
    page = paging.paginate(found, key, page_request, scope)
    return list_response(request, "task_queues", [_render(request, q) for q in page.items], page_request, page)


def _max_reserved(form) -> int | None:
    return params.integer(form, "MaxReservedWorkers", minimum=1, maximum=50)


async def create_queue(request: web.Request) -> web.Response:
    ctx = context(request)
    workspace_sid = request.match_info["workspace_sid"]
    ctx.store.get_workspace(workspace_sid)
    form = await read_form(request)
    queue = ctx.store.create_task_queue(
        workspace_sid,
        params.friendly_name(form, required=True),  # type: ignore[arg-type]
        target_workers=params.text(form, "TargetWorkers"),
        max_reserved_workers=_max_reserved(form),
        task_order=params.choice(form, "TaskOrder", TASK_ORDERS),
        reservation_activity_sid=params.sid(form, "ReservationActivitySid", "WA"),
        assignment_activity_sid=params.sid(form, "AssignmentActivitySid", "WA"),
    )
    return render.json_response(_render(request, queue), status=201)


async def fetch_queue(request: web.Request) -> web.Response:
    match = request.match_info
    queue = context(request).store.get_task_queue(match["workspace_sid"], match["sid"])
    return render.json_response(_render(request, queue))


async def update_queue(request: web.Request) -> web.Response:
    ctx = context(request)
    match = request.match_info
    ctx.store.get_task_queue(match["workspace_sid"], match["sid"])
    form = await read_form(request)
    queue = ctx.store.update_task_queue(
        match["workspace_sid"],
        match["sid"],
        friendly_name=params.friendly_name(form, required=False),
        target_workers=params.text(form, "TargetWorkers"),
        reservation_activity_sid=params.sid(form, "ReservationActivitySid", "WA"),
        assignment_activity_sid=params.sid(form, "AssignmentActivitySid", "WA"),
        max_reserved_workers=_max_reserved(form),
        task_order=params.choice(form, "TaskOrder", TASK_ORDERS),
    )
    return render.json_response(_render(request, queue))


async def delete_queue(request: web.Request) -> web.Response:
    match = request.match_info
    context(request).store.delete_task_queue(match["workspace_sid"], match["sid"])
    return no_content()


def register(app: web.Application) -> None:
    base = "/v1/Workspaces/{workspace_sid}/TaskQueues"
    app.router.add_get(base, list_queues, allow_head=False)
    app.router.add_post(base, create_queue)
    app.router.add_get(base + "/{sid}", fetch_queue, allow_head=False)
    app.router.add_post(base + "/{sid}", update_queue)
    app.router.add_delete(base + "/{sid}", delete_queue)
