"""/v1/Workspaces/{WorkspaceSid}/Workflows[/{Sid}]; the Configuration is validated in engine/workflow_config.py."""

from __future__ import annotations

from aiohttp import web
from multidict import MultiDictProxy

from .. import paging, params, render, render_tasks
from ..context import EmulatorContext
from ..errors import bad_parameter
from .common import context, list_response, no_content, read_form

MAX_RESERVATION_TIMEOUT = 86_400


def _single(request: web.Request, workflow, status: int = 200) -> web.Response:
    return render.json_response(render_tasks.workflow(context(request).base(request), workflow), status=status)


async def list_workflows(request: web.Request) -> web.Response:
    ctx = context(request)
    ctx.store.get_workspace(request.match_info["workspace_sid"])
    page_request = paging.parse_page_request(request.query, "workflows")
    found = ctx.store.list_workflows(request.match_info["workspace_sid"], params.text(request.query, "FriendlyName"))
    page = paging.paginate(found, lambda wf: (ctx.store.sort_key(wf.sid),), page_request, "workflows")
    base = ctx.base(request)
    records = [render_tasks.workflow(base, wf) for wf in page.items]
    return list_response(request, "workflows", records, page_request, page)


def _timeout(form) -> int | None:
    return params.integer(form, "TaskReservationTimeout", minimum=1, maximum=MAX_RESERVATION_TIMEOUT)


def _callback_url(ctx: EmulatorContext, form: MultiDictProxy[str], name: str) -> str | None:
    return params.callback_url(form, name, ctx.config.callback_allowed)


async def create_workflow(request: web.Request) -> web.Response:
    ctx = context(request)
    workspace_sid = request.match_info["workspace_sid"]
    ctx.store.get_workspace(workspace_sid)
    form = await read_form(request)
    name = params.friendly_name(form, required=True)
    configuration = params.text(form, "Configuration")
    if configuration is None:
        raise bad_parameter("Missing required parameter Configuration in the post body")
    workflow = ctx.store.create_workflow(
        workspace_sid,
        name,  # type: ignore[arg-type]
        configuration,
        assignment_callback_url=_callback_url(ctx, form, "AssignmentCallbackUrl"),
        fallback_assignment_callback_url=_callback_url(ctx, form, "FallbackAssignmentCallbackUrl"),
        task_reservation_timeout=_timeout(form),
    )
    return _single(request, workflow, status=201)


async def fetch_workflow(request: web.Request) -> web.Response:
    match = request.match_info
    return _single(request, context(request).store.get_workflow(match["workspace_sid"], match["sid"]))


async def update_workflow(request: web.Request) -> web.Response:
    ctx = context(request)
    match = request.match_info
    ctx.store.get_workflow(match["workspace_sid"], match["sid"])
    form = await read_form(request)
    workflow = ctx.store.update_workflow(
        match["workspace_sid"],
        match["sid"],
        re_evaluate_tasks=params.strict_bool(form, "ReEvaluateTasks"),
        friendly_name=params.friendly_name(form, required=False),
        configuration=params.text(form, "Configuration"),
        assignment_callback_url=_callback_url(ctx, form, "AssignmentCallbackUrl"),
        fallback_assignment_callback_url=_callback_url(ctx, form, "FallbackAssignmentCallbackUrl"),
        task_reservation_timeout=_timeout(form),
    )
    return _single(request, workflow)


async def delete_workflow(request: web.Request) -> web.Response:
    match = request.match_info
    context(request).store.delete_workflow(match["workspace_sid"], match["sid"])
    return no_content()


def register(app: web.Application) -> None:
    base = "/v1/Workspaces/{workspace_sid}/Workflows"
    app.router.add_get(base, list_workflows, allow_head=False)
    app.router.add_post(base, create_workflow)
    app.router.add_get(base + "/{sid}", fetch_workflow, allow_head=False)
    app.router.add_post(base + "/{sid}", update_workflow)
    app.router.add_delete(base + "/{sid}", delete_workflow)
