"""/v1/Workspaces/{WorkspaceSid}/Activities[/{Sid}] (the Activity Resource page)."""

from __future__ import annotations

from aiohttp import web

from .. import paging, params, render
from ..errors import bad_parameter
from .common import context, list_response, no_content, read_form


async def list_activities(request: web.Request) -> web.Response:
    query = request.query
    ctx = context(request)
    ctx.store.get_workspace(request.match_info["workspace_sid"])  # 404 before any 400
    scope = "activities"
    page_request = paging.parse_page_request(query, scope)
    available = params.text(query, "Available")
    found = ctx.store.list_activities(
        request.match_info["workspace_sid"],
        friendly_name=params.text(query, "FriendlyName"),
        available=params.flag(available) if available is not None else None,
    )
    page = paging.paginate(found, lambda act: (ctx.store.sort_key(act.sid),), page_request, scope)
    base = ctx.base(request)
    return list_response(request, "activities", [render.activity(base, act) for act in page.items], page_request, page)


async def create_activity(request: web.Request) -> web.Response:
    ctx = context(request)
    workspace_sid = request.match_info["workspace_sid"]
    ctx.store.get_workspace(workspace_sid)
    form = await read_form(request)
    name = params.friendly_name(form, required=True)
    act = ctx.store.create_activity(workspace_sid, name, params.flag(form.get("Available")))  # type: ignore[arg-type]
    return render.json_response(render.activity(ctx.base(request), act), status=201)


async def fetch_activity(request: web.Request) -> web.Response:
    ctx = context(request)
    act = ctx.store.get_activity(request.match_info["workspace_sid"], request.match_info["sid"])
    return render.json_response(render.activity(ctx.base(request), act))


async def update_activity(request: web.Request) -> web.Response:
    ctx = context(request)
    workspace_sid, sid = request.match_info["workspace_sid"], request.match_info["sid"]
    ctx.store.get_activity(workspace_sid, sid)
    form = await read_form(request)
    if "Available" in form:
        raise bad_parameter("Available cannot be changed after an Activity is created; create a new Activity instead")
    act = ctx.store.update_activity(workspace_sid, sid, params.friendly_name(form, required=False))
    return render.json_response(render.activity(ctx.base(request), act))


async def delete_activity(request: web.Request) -> web.Response:
    context(request).store.delete_activity(request.match_info["workspace_sid"], request.match_info["sid"])
    return no_content()


def register(app: web.Application) -> None:
    base = "/v1/Workspaces/{workspace_sid}/Activities"
    app.router.add_get(base, list_activities, allow_head=False)
    app.router.add_post(base, create_activity)
    app.router.add_get(base + "/{sid}", fetch_activity, allow_head=False)
    app.router.add_post(base + "/{sid}", update_activity)
    app.router.add_delete(base + "/{sid}", delete_activity)
