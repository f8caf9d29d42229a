"""/v1/Workspaces/{WorkspaceSid}/Events[/{Sid}] (the Event Resource page)."""

from __future__ import annotations

from aiohttp import web

from .. import defaults, paging, params, render
from ..errors import bad_parameter
from ..event_log import EventFilters
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
    start = params.date_time(query, "StartDate")
    end = params.date_time(query, "EndDate")
    minutes = params.integer(query, "Minutes", minimum=1)
    oldest = now - defaults.EVENT_RETENTION_SECONDS
    if start is not None and start < oldest:
        raise bad_parameter(
            f"StartDate {params.text(query, 'StartDate')} is more than 30 days in the past; Events are kept for 30 days"
        )
    # Both StartDate and Minutes bound the window from below; with neither, the last 15 minutes.
    lower_bounds = [bound for bound in (start, now - minutes * 60 if minutes else None) if bound is not None]
    lower = max(lower_bounds) if lower_bounds else now - defaults.DEFAULT_EVENT_MINUTES * 60
    sids = {field: params.sid(query, name, prefix) for name, prefix, field in _SID_FILTERS}
    return EventFilters(
        start_ms=int(lower * 1000),
        end_ms=int(end * 1000) if end is not None else None,
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
