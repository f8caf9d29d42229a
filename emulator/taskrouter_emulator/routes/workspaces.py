"""/v1/Workspaces and /v1/Workspaces/{Sid}."""

from __future__ import annotations

from aiohttp import web
from multidict import MultiDictProxy

from .. import paging, params, render
from ..errors import bad_parameter
from ..event_types import EVENT_TYPES
from ..model import Workspace
from .common import context, list_response, no_content, read_form

QUEUE_ORDERS = ("FIFO", "LIFO")
TEMPLATES = ("NONE", "FIFO")


def _render(request: web.Request, ws: Workspace) -> dict:
    ctx = context(request)
    default, timeout = ctx.store.workspace_activities(ws)
    return render.workspace(ctx.base(request), ws, default, timeout)


def _events_filter(form: MultiDictProxy[str]) -> str | None:
    """EventsFilter: comma-separated event types from the Events catalog; "" clears it."""
    value = form.get("EventsFilter")
    if not value:
        return value
    types = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [event_type for event_type in types if event_type not in EVENT_TYPES]
    if unknown:
        raise bad_parameter(f"EventsFilter has unknown event types: {', '.join(unknown)}")
    return ",".join(types)


def _callback_url(request: web.Request, form: MultiDictProxy[str]) -> str | None:
    return params.callback_url(form, "EventCallbackUrl", context(request).config.callback_allowed)


async def list_workspaces(request: web.Request) -> web.Response:
    query = request.query
    page_request = paging.parse_page_request(query, "workspaces")
    store = context(request).store
    found = store.list_workspaces(params.text(query, "FriendlyName"))
    page = paging.paginate(found, lambda ws: (store.sort_key(ws.sid),), page_request, "workspaces")
    return list_response(request, "workspaces", [_render(request, ws) for ws in page.items], page_request, page)


async def create_workspace(request: web.Request) -> web.Response:
    form = await read_form(request)
    name = params.friendly_name(form, required=True)
    callback_url = _callback_url(request, form)
    events_filter = _events_filter(form)
    multi_task = params.strict_bool(form, "MultiTaskEnabled")
    queue_order = params.choice(form, "PrioritizeQueueOrder", QUEUE_ORDERS)
    template = params.choice(form, "Template", TEMPLATES)
    ws = context(request).store.create_workspace(
        name,  # type: ignore[arg-type]
        event_callback_url=callback_url,
        events_filter=events_filter,
        multi_task_enabled=multi_task if multi_task is not None else True,  # Twilio's default is true
        prioritize_queue_order=queue_order or "FIFO",
        template=template,
    )
    return render.json_response(_render(request, ws), status=201)


async def fetch_workspace(request: web.Request) -> web.Response:
    ws = context(request).store.get_workspace(request.match_info["sid"])
    return render.json_response(_render(request, ws))


async def update_workspace(request: web.Request) -> web.Response:
    store = context(request).store
    sid = request.match_info["sid"]
    store.get_workspace(sid)  # 404 before 400: an unknown workspace is the first thing wrong
    form = await read_form(request)
    ws = store.update_workspace(
        sid,
        friendly_name=params.friendly_name(form, required=False),
        event_callback_url=_callback_url(request, form),
        events_filter=_events_filter(form),
        default_activity_sid=params.sid(form, "DefaultActivitySid", "WA"),
        timeout_activity_sid=params.sid(form, "TimeoutActivitySid", "WA"),
        multi_task_enabled=params.strict_bool(form, "MultiTaskEnabled"),
        prioritize_queue_order=params.choice(form, "PrioritizeQueueOrder", QUEUE_ORDERS),
    )
    return render.json_response(_render(request, ws))


async def delete_workspace(request: web.Request) -> web.Response:
    context(request).store.delete_workspace(request.match_info["sid"])
    return no_content()


def register(app: web.Application) -> None:
    app.router.add_get("/v1/Workspaces", list_workspaces, allow_head=False)
    app.router.add_post("/v1/Workspaces", create_workspace)
    app.router.add_get("/v1/Workspaces/{sid}", fetch_workspace, allow_head=False)
    app.router.add_post("/v1/Workspaces/{sid}", update_workspace)
    app.router.add_delete("/v1/Workspaces/{sid}", delete_workspace)
