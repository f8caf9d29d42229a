"""Reservations as a client sees them: read, list, and update (accept, reject, wrap up, complete, and the
instructions that need telephony, recorded as Calls)."""

from __future__ import annotations

from collections.abc import Iterator

from ..dates import rfc2822
from ..errors import bad_parameter, not_found
from ..model import CallEvent, Reservation
from ..naming import snake_case
from ..sids import is_sid
from . import calls, dispatch, tasks, transitions, worker_activity
from .changes import CALL_INSTRUCTIONS, ReservationChange, wrong_state
from .space import Space
from .transaction import Transaction

_ALLOWED = {"accepted": ("pending",), "rejected": ("pending",), "wrapping": ("accepted",),
            "completed": ("accepted", "wrapping")}


def get(space: Space, sid: str, *, task_sid: str | None = None, worker_sid: str | None = None) -> Reservation:
    res = space.routing.reservations.get(sid)
    if (res is None or (task_sid is not None and res.task_sid != task_sid)
            or (worker_sid is not None and res.worker_sid != worker_sid)):
        raise not_found()
    return res


def list_reservations(space: Space, *, task_sid: str | None = None, worker_sid: str | None = None,
                      status: str | None = None) -> list[Reservation]:
    rs = space.routing
    if task_sid is not None:
        if task_sid not in rs.tasks:
            raise not_found()
        sids: Iterator[str] | list[str] = rs.task_reservations.get(task_sid, [])
    else:
        if worker_sid not in space.workers:
            raise not_found()
        sids = rs.worker_reservations.get(worker_sid or "", [])
    found = [rs.reservations[sid] for sid in sids]
    return [r for r in found if (status is None or r.reservation_status == status)
            and (worker_sid is None or r.worker_sid == worker_sid)]


def update(tx: Transaction, space: Space, sid: str, change: ReservationChange, *, task_sid: str | None = None,
           worker_sid: str | None = None, if_match: str | None = None) -> Reservation:
    rs = space.routing
    res = get(space, sid, task_sid=task_sid, worker_sid=worker_sid)
    task = rs.tasks[res.task_sid]
    # A Reservation's ETag is its Task's (every reservation change moves the Task, so it moves the ETag).
    tasks.check_etag(task, if_match)
    wanted = change.reservation_status
    instruction = change.instruction
    if instruction == "supervise":
        return _supervise(tx, res, change, sid)
    if instruction is not None:
        wanted = "rejected" if instruction == "reject" else "accepted"
    if wanted is None:
        return res
    current = res.reservation_status
    if current not in _ALLOWED[wanted]:
        expected = ", ".join(_ALLOWED[wanted])
        raise wrong_state(f"Reservation {sid} not in expected state [{expected}] and cannot be updated to [{wanted}]")
    activity_sid = change.worker_activity_sid
    activity = None
    if activity_sid is not None:
        activity = space.activities.get(activity_sid)
        if activity is None:
            raise bad_parameter(f"WorkerActivitySid {activity_sid} is not an Activity in Workspace {space.sid}")
    now = tx.clock()
    if wanted == "accepted":
        transitions.accept(tx, space, task, res, now)
        worker = space.workers.get(res.worker_sid)
        if activity is not None and worker is not None and worker.activity_sid != activity.sid:
            worker_activity.move(tx, space, worker, activity)
        if instruction in CALL_INSTRUCTIONS:
            _record_instruction(tx, res, instruction or "", change.instruction_parameters or {}, now)
    elif wanted == "rejected":
        transitions.end_pending(tx, space, res, "rejected", now, activity)
    elif wanted == "wrapping":
        transitions.wrapup(tx, space, task, res, now)
    else:
        transitions.complete(tx, space, task, res, "", now)
    dispatch.route(tx, space)
    return res


def _supervise(tx: Transaction, res: Reservation, change: ReservationChange, sid: str) -> Reservation:
    """A supervisor joins the Worker's call: the Reservation must be accepted and stays so."""
    if res.reservation_status != "accepted":
        raise wrong_state(f"Reservation {sid} not in expected state [accepted] and cannot be supervised")
    _record_instruction(tx, res, "supervise", change.instruction_parameters or {}, tx.clock())
    return res


def _record_instruction(tx: Transaction, res: Reservation, instruction: str, parameters: dict[str, str],
                        now: float) -> None:
    """dequeue, call, redirect, conference and supervise need telephony the emulator lacks: record them as a Call
    (GET /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}/Events.json shows them)."""
    url = parameters.get("CallUrl") or parameters.get("RedirectUrl") or f"taskrouter://instruction/{instruction}"
    form = {"instruction": instruction, "reservation_sid": res.sid, "task_sid": res.task_sid,
            "worker_sid": res.worker_sid}
    for name, value in parameters.items():
        form[snake_case(name)] = value
    call_sid = parameters.get("RedirectCallSid")
    event = CallEvent(
        request={"method": "POST", "url": url, "parameters": form},
        response={"response_code": 200, "request_duration": 0, "content_type": "application/json",
                  "response_body": "", "date_created": rfc2822(now)},
    )
    calls.record(tx, [event], sid=call_sid if call_sid and is_sid(call_sid, "CA") else None)
