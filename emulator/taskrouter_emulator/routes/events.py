"""/v1/Workspaces/{WorkspaceSid}/Events[/{Sid}] (the Event Resource page)."""

from __future__ import annotations

from aiohttp import web

from .. import paging, params, render
from ..event_log import EventFilters
from ..statistics.window import time_window
from .common import context, list_response

_SID_FILTERS = (
    ("ReservationSid", "WR", "reservation_sid"),
    ("TaskQueueSid", "WQ", "task_queue_sid"),
    ("TaskSid", "WT", "task_sid"),
    ("WorkerSid", "WK", "worker_sid"),
    ("WorkflowSid", "WW", "workflow_sid"),
    ("Sid", "EV", "sid"),
)


def _filters(query, now: float) -> EventFilters:
    window = time_window(query, now, refuse_inverted=False)
    sids = {field: params.sid(query, name, prefix) for name, prefix, field in _SID_FILTERS}
    return EventFilters(
        start_ms=int(window.start * 1000),
        end_ms=int(window.end * 1000) if window.end is not None else None,
        event_type=params.text(query, "EventType"),
        task_channel=params.text(query, "TaskChannel"),
        **sids,
    )


async def list_events(request: web.Request) -> web.Response:
    ctx = context(request)
    ctx.store.get_workspace(request.match_info["workspace_sid"])  # 404 before any 400
    query = request.query
    store = ctx.store
    filters = _filters(query, store.clock())
    page_request = paging.parse_page_request(query, "events")
    found = store.list_events(request.match_info["workspace_sid"], filters)
    page = paging.paginate(found, lambda event: (store.sort_key(event.sid),), page_request, "events")
    base = ctx.base(request)
    return list_response(request, "events", [render.event(base, event) for event in page.items], page_request, page)


async def fetch_event(request: web.Request) -> web.Response:
    ctx = context(request)
    event = ctx.store.get_event(request.match_info["workspace_sid"], request.match_info["sid"])
    return render.json_response(render.event(ctx.base(request), event))


def register(app: web.Application) -> None:
    app.router.add_get("/v1/Workspaces/{workspace_sid}/Events", list_events, allow_head=False)
    app.router.add_get("/v1/Workspaces/{workspace_sid}/Events/{sid}", fetch_event, allow_head=False)
