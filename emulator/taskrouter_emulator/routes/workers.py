"""/v1/Workspaces/{WorkspaceSid}/Workers[/{Sid}] (the Worker Resource page)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from .. import paging, params, render
from ..model import Activity, Worker
from ..store import ORDERINGS, WorkerChange, WorkerFilters
from .common import choice_ci, context, expression_param, list_response, no_content, read_form


def etag(worker: Worker) -> str:
    return f'"{worker.version}"'


def _single(request: web.Request, worker: Worker, act: Activity, status: int = 200) -> web.Response:
    body = render.worker(context(request).base(request), worker, act, with_attributes=True)
    return render.json_response(body, status=status, headers={"ETag": etag(worker)})


async def list_workers(request: web.Request) -> web.Response:
    ctx = context(request)
    ctx.store.get_workspace(request.match_info["workspace_sid"])  # 404 before any 400
    query = request.query
    available = params.text(query, "Available")
    filters = WorkerFilters(
        activity_name=params.text(query, "ActivityName"),
        activity_sid=params.sid(query, "ActivitySid", "WA"),
        available=params.flag(available) if available is not None else None,
        friendly_name=params.text(query, "FriendlyName"),
        expression=expression_param(params.text(query, "TargetWorkersExpression"), "TargetWorkersExpression"),
        task_queue_name=params.text(query, "TaskQueueName"),
        task_queue_sid=params.sid(query, "TaskQueueSid", "WQ"),
        ordering=choice_ci(params.text(query, "Ordering"), "Ordering", ORDERINGS),
    )
    scope = f"workers:{filters.ordering or 'created'}"
    page_request = paging.parse_page_request(query, scope)
    found = ctx.store.list_workers(request.match_info["workspace_sid"], filters)
    seq = ctx.store.sort_key
    key: Callable[[tuple[Worker, Activity]], paging.SortKey]
    if filters.ordering is None:
        key = lambda pair: (seq(pair[0].sid),)  # noqa: E731
    elif filters.ordering.endswith(":asc"):
        key = lambda pair: (pair[0].date_status_changed, seq(pair[0].sid))  # noqa: E731
    else:
        key = lambda pair: (-pair[0].date_status_changed, -seq(pair[0].sid))  # noqa: E731
    page = paging.paginate(found, key, page_request, scope)
    base = ctx.base(request)
    records = [render.worker(base, worker, act, with_attributes=False) for worker, act in page.items]
    return list_response(request, "workers", records, page_request, page)


async def create_worker(request: web.Request) -> web.Response:
    ctx = context(request)
    workspace_sid = request.match_info["workspace_sid"]
    ctx.store.get_workspace(workspace_sid)
    form = await read_form(request)
    worker, act = ctx.store.create_worker(
        workspace_sid,
        params.friendly_name(form, required=True),  # type: ignore[arg-type]
        activity_sid=params.sid(form, "ActivitySid", "WA"),
        attributes=params.json_object(form, "Attributes"),
    )
    return _single(request, worker, act, status=201)


async def fetch_worker(request: web.Request) -> web.Response:
    match = request.match_info
    worker, act = context(request).store.get_worker(match["workspace_sid"], match["sid"])
    return _single(request, worker, act)


async def update_worker(request: web.Request) -> web.Response:
    ctx = context(request)
    workspace_sid, sid = request.match_info["workspace_sid"], request.match_info["sid"]
    ctx.store.get_worker(workspace_sid, sid)
    form = await read_form(request)
    change = WorkerChange(
        activity_sid=params.sid(form, "ActivitySid", "WA"),
        attributes=params.json_object(form, "Attributes"),
        friendly_name=params.friendly_name(form, required=False),
        reject_pending_reservations=params.strict_bool(form, "RejectPendingReservations"),
    )
    worker, act = ctx.store.update_worker(workspace_sid, sid, change, if_match=request.headers.get("If-Match"))
    return _single(request, worker, act)


async def delete_worker(request: web.Request) -> web.Response:
    match = request.match_info
    context(request).store.delete_worker(match["workspace_sid"], match["sid"], if_match=request.headers.get("If-Match"))
    return no_content()


def register(app: web.Application) -> None:
    base = "/v1/Workspaces/{workspace_sid}/Workers"
    app.router.add_get(base, list_workers, allow_head=False)
    app.router.add_post(base, create_worker)
    app.router.add_get(base + "/{sid}", fetch_worker, allow_head=False)
    app.router.add_post(base + "/{sid}", update_worker)
    app.router.add_delete(base + "/{sid}", delete_worker)
