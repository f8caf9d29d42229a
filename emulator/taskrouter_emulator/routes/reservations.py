"""Reservations, task-scoped (/Tasks/{TaskSid}/Reservations) and worker-scoped (/Workers/{WorkerSid}/
Reservations): list, fetch and update (ReservationStatus or an Instruction)."""

from __future__ import annotations

from aiohttp import web

from .. import paging, params, render, render_tasks
from ..errors import bad_parameter
from ..instructions import instruction_parameters
from ..store import ReservationChange
from .common import context, list_response, read_form
from .tasks import etag

STATUSES = ("pending", "accepted", "rejected", "timeout", "canceled", "rescinded", "wrapping", "completed")
SETTABLE = ("accepted", "rejected", "wrapping", "completed")
INSTRUCTIONS = ("accept", "reject", "dequeue", "call", "redirect", "conference", "supervise")
_KNOWN = frozenset({"ReservationStatus", "Instruction", "WorkerActivitySid"})


def _scope(request: web.Request) -> dict[str, str]:
    match = request.match_info
    if "task_sid" in match:
        return {"task_sid": match["task_sid"]}
    return {"worker_sid": match["worker_sid"]}


async def list_reservations(request: web.Request) -> web.Response:
    ctx = context(request)
    workspace_sid = request.match_info["workspace_sid"]
    ctx.store.get_workspace(workspace_sid)
    query = request.query
    scope = _scope(request)
    status = params.choice(query, "ReservationStatus", STATUSES)
    worker_filter = params.sid(query, "WorkerSid", "WK") if "task_sid" in scope else None
    page_request = paging.parse_page_request(query, "reservations")
    found = ctx.store.list_reservations(workspace_sid, status=status, **scope)
    if worker_filter is not None:
        found = [r for r in found if r.worker_sid == worker_filter]
    found.sort(key=lambda r: ctx.store.sort_key(r.sid))
    page = paging.paginate(found, lambda r: (ctx.store.sort_key(r.sid),), page_request, "reservations")
    base = ctx.base(request)
    worker_scoped = "worker_sid" in scope
    records = [render_tasks.reservation(base, r, worker_scoped=worker_scoped) for r in page.items]
    return list_response(request, "reservations", records, page_request, page)


def _single(request: web.Request, reservation) -> web.Response:
    ctx = context(request)
    worker_scoped = "worker_sid" in request.match_info
    body = render_tasks.reservation(ctx.base(request), reservation, worker_scoped=worker_scoped)
    if worker_scoped:  # Twilio's spec gives worker-scoped reads and updates no ETag header
        return render.json_response(body)
    # A Reservation's ETag is its Task's: If-Match on an update is checked against the Task's version.
    task = ctx.store.get_task(request.match_info["workspace_sid"], reservation.task_sid)
    return render.json_response(body, headers={"ETag": etag(task)})


async def fetch_reservation(request: web.Request) -> web.Response:
    match = request.match_info
    res = context(request).store.get_reservation(match["workspace_sid"], match["sid"], **_scope(request))
    return _single(request, res)


async def update_reservation(request: web.Request) -> web.Response:
    ctx = context(request)
    match = request.match_info
    ctx.store.get_reservation(match["workspace_sid"], match["sid"], **_scope(request))
    form = await read_form(request)
    instruction = params.choice(form, "Instruction", INSTRUCTIONS)
    if instruction == "supervise" and "worker_sid" in match:
        raise bad_parameter("Instruction=supervise is taken on a Task's Reservation only "
                            "(/Tasks/{TaskSid}/Reservations/{Sid}), as Twilio's spec lists it")
    change = ReservationChange(
        reservation_status=params.choice(form, "ReservationStatus", SETTABLE),
        instruction=instruction,
        worker_activity_sid=params.sid(form, "WorkerActivitySid", "WA"),
        instruction_parameters=instruction_parameters(form, instruction, skip=_KNOWN),
    )
    res = ctx.store.update_reservation(match["workspace_sid"], match["sid"], change,
                                       if_match=request.headers.get("If-Match"), **_scope(request))
    return _single(request, res)


def register(app: web.Application) -> None:
    for base in (
        "/v1/Workspaces/{workspace_sid}/Tasks/{task_sid}/Reservations",
        "/v1/Workspaces/{workspace_sid}/Workers/{worker_sid}/Reservations",
    ):
        app.router.add_get(base, list_reservations, allow_head=False)
        app.router.add_get(base + "/{sid}", fetch_reservation, allow_head=False)
        app.router.add_post(base + "/{sid}", update_reservation)
