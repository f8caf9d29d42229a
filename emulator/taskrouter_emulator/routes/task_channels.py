"""/v1/Workspaces/{WorkspaceSid}/TaskChannels[/{Sid}]: the five pre-made channels plus CRUD."""

from __future__ import annotations

from aiohttp import web

from .. import paging, params, render, render_tasks
from ..errors import bad_parameter
from .common import context, list_response, no_content, read_form


def _single(request: web.Request, channel, status: int = 200) -> web.Response:
    return render.json_response(render_tasks.task_channel(context(request).base(request), channel), status=status)


async def list_channels(request: web.Request) -> web.Response:
    ctx = context(request)
    ctx.store.get_workspace(request.match_info["workspace_sid"])
    page_request = paging.parse_page_request(request.query, "task_channels")
    found = ctx.store.list_task_channels(request.match_info["workspace_sid"])
    page = paging.paginate(found, lambda ch: (ctx.store.sort_key(ch.sid),), page_request, "task_channels")
    base = ctx.base(request)
    records = [render_tasks.task_channel(base, ch) for ch in page.items]
    return list_response(request, "channels", records, page_request, page)


async def create_channel(request: web.Request) -> web.Response:
    ctx = context(request)
    workspace_sid = request.match_info["workspace_sid"]
    ctx.store.get_workspace(workspace_sid)
    form = await read_form(request)
    name = params.friendly_name(form, required=True)
    unique_name = params.friendly_name(form, "UniqueName", required=True)
    channel = ctx.store.create_task_channel(
        workspace_sid, name, unique_name, params.strict_bool(form, "ChannelOptimizedRouting")  # type: ignore[arg-type]
    )
    return _single(request, channel, status=201)


async def fetch_channel(request: web.Request) -> web.Response:
    match = request.match_info
    return _single(request, context(request).store.get_task_channel(match["workspace_sid"], match["sid"]))


async def update_channel(request: web.Request) -> web.Response:
    ctx = context(request)
    match = request.match_info
    ctx.store.get_task_channel(match["workspace_sid"], match["sid"])
    form = await read_form(request)
    if "UniqueName" in form:
        raise bad_parameter("UniqueName cannot be changed after a TaskChannel is created")
    channel = ctx.store.update_task_channel(
        match["workspace_sid"], match["sid"], params.friendly_name(form, required=False),
        params.strict_bool(form, "ChannelOptimizedRouting"),
    )
    return _single(request, channel)


async def delete_channel(request: web.Request) -> web.Response:
    match = request.match_info
    context(request).store.delete_task_channel(match["workspace_sid"], match["sid"])
    return no_content()


def register(app: web.Application) -> None:
    base = "/v1/Workspaces/{workspace_sid}/TaskChannels"
    app.router.add_get(base, list_channels, allow_head=False)
    app.router.add_post(base, create_channel)
    app.router.add_get(base + "/{sid}", fetch_channel, allow_head=False)
    app.router.add_post(base + "/{sid}", update_channel)
    app.router.add_delete(base + "/{sid}", delete_channel)
