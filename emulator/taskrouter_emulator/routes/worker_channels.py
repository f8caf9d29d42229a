"""/v1/Workspaces/{WorkspaceSid}/Workers/{WorkerSid}/Channels[/{Sid}]: one per worker and TaskChannel.
{Sid} may be the WorkerChannel SID, the TaskChannel SID or its unique name."""

from __future__ import annotations

from aiohttp import web

from .. import paging, params, render, render_tasks
from .common import context, list_response, read_form


async def list_channels(request: web.Request) -> web.Response:
    ctx = context(request)
    match = request.match_info
    page_request = paging.parse_page_request(request.query, "worker_channels")
    found = ctx.store.list_worker_channels(match["workspace_sid"], match["worker_sid"])
    page = paging.paginate(
        found, lambda pair: (ctx.store.sort_key(pair[0].task_channel_sid),), page_request, "worker_channels"
    )
    base = ctx.base(request)
    records = [render_tasks.worker_channel(base, wc, count) for wc, count in page.items]
    return list_response(request, "channels", records, page_request, page)


async def fetch_channel(request: web.Request) -> web.Response:
    ctx = context(request)
    match = request.match_info
    wc, count = ctx.store.get_worker_channel(match["workspace_sid"], match["worker_sid"], match["sid"])
    return render.json_response(render_tasks.worker_channel(ctx.base(request), wc, count))


async def update_channel(request: web.Request) -> web.Response:
    ctx = context(request)
    match = request.match_info
    ctx.store.get_worker_channel(match["workspace_sid"], match["worker_sid"], match["sid"])
    form = await read_form(request)
    wc, count = ctx.store.update_worker_channel(
        match["workspace_sid"], match["worker_sid"], match["sid"],
        params.integer(form, "Capacity", minimum=0, maximum=50), params.strict_bool(form, "Available"),
    )
    return render.json_response(render_tasks.worker_channel(ctx.base(request), wc, count))


def register(app: web.Application) -> None:
    base = "/v1/Workspaces/{workspace_sid}/Workers/{worker_sid}/Channels"
    app.router.add_get(base, list_channels, allow_head=False)
    app.router.add_get(base + "/{sid}", fetch_channel, allow_head=False)
    app.router.add_post(base + "/{sid}", update_channel)
