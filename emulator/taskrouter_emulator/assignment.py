"""Assignment callbacks: when a Reservation is created for a Workflow with an AssignmentCallbackUrl, a signed
form POST goes there (FallbackAssignmentCallbackUrl when the first fails), and the JSON reply's
`instruction` is carried out as if the client had posted it to the Reservation:

- accept; reject (optional activity_sid: the worker's next Activity);
- dequeue, call, redirect, conference: accepted and recorded as a Call (the emulator has no telephony);
- an empty reply ({} or no body): nothing; the application decides later through the REST API.

A failed POST (connection error, timeout, non-2xx, a body that is not JSON) tries the fallback URL once;
if that fails too the Reservation stays pending until it times out, as on TaskRouter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson
import structlog
from yarl import URL

from .callbacks import USER_AGENT
from .defaults import CALLBACK_TIMEOUT_SECONDS
from .errors import TwilioApiError
from .model import Event, Workspace
from .store import CALL_INSTRUCTIONS, ReservationChange, Store
from .signing import SIGNATURE_HEADER, compute_signature

log = structlog.get_logger(__name__)

INSTRUCTIONS = frozenset({"accept", "reject"}) | CALL_INSTRUCTIONS
MAX_IN_FLIGHT = 10_000  # callbacks waiting or being sent; beyond it one is skipped (its reservation times out)
# Reply keys (snake_case, as Twilio's docs write them) -> the Reservation update's form names.
_REPLY_FIELDS = {
    "call": {"url": "CallUrl", "to": "CallTo", "from": "CallFrom", "status_callback_url": "CallStatusCallbackUrl"},
    "redirect": {"call_sid": "RedirectCallSid", "url": "RedirectUrl"},
    "dequeue": {"to": "DequeueTo", "from": "DequeueFrom", "post_work_activity_sid": "DequeuePostWorkActivitySid"},
    "conference": {"to": "To", "from": "From"},
}


class AssignmentError(Exception):
    """The callback failed (the message says how); the fallback URL, if any, is tried next."""


def assignment_form(store: Store, workspace_sid: str, reservation_sid: str) -> tuple[dict[str, str], str, str | None]:
    """Twilio's assignment callback parameters, and the workflow's two URLs (the caller checked the first)."""
    space = store.space(workspace_sid)
    rs = space.routing
    res = rs.reservations[reservation_sid]
    task = rs.tasks[res.task_sid]
    workflow = rs.workflows[task.workflow_sid or ""]
    worker = space.workers[res.worker_sid]
    form = {
        "AccountSid": res.account_sid,
        "WorkspaceSid": workspace_sid,
        "WorkflowSid": workflow.sid,
        "TaskQueueSid": res.task_queue_sid,
        "TaskSid": task.sid,
        "TaskAge": str(max(0, int(store.clock() - task.date_created))),
        "TaskPriority": str(task.target_priority if task.target_priority is not None else task.priority),
        "TaskAttributes": task.attributes,
        "WorkerSid": worker.sid,
        "WorkerAttributes": worker.attributes,
        "ReservationSid": res.sid,
    }
    return form, workflow.assignment_callback_url or "", workflow.fallback_assignment_callback_url


class AssignmentDispatcher:
    def __init__(
        self, store: Store, auth_token: str, *, timeout: float = CALLBACK_TIMEOUT_SECONDS,
        allowed: Callable[[str], bool] = lambda url: True,
    ) -> None:
        self._allowed = allowed
        self._store = store
        self._auth_token = auth_token
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent = 0
        self.failed = 0
        self.skipped = 0

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._timeout),
            cookie_jar=aiohttp.DummyCookieJar(),
            headers={"User-Agent": USER_AGENT},
        )

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def submit(self, workspace: Workspace, event: Event) -> None:
        """A store listener: acts on reservation.created only."""
        if event.event_type != "reservation.created" or self._session is None:
            return
        rs = self._store.space(workspace.sid).routing
        res = rs.reservations.get(event.resource_sid)
        if res is None:
            return
        workflow = rs.workflows.get(res.workflow_sid or "")
        if workflow is None or not workflow.assignment_callback_url:
            return
        if len(self._tasks) >= MAX_IN_FLIGHT:
            self.skipped += 1
            log.warning("assignment_callback_skipped", reservation_sid=res.sid, in_flight=len(self._tasks))
            return
        form, url, fallback = assignment_form(self._store, workspace.sid, res.sid)
        task = asyncio.get_running_loop().create_task(self._deliver(workspace.sid, res.sid, form, url, fallback))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_idle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _deliver(
        self, workspace_sid: str, reservation_sid: str, form: dict[str, str], url: str, fallback: str | None
    ) -> None:
        for target in (url, fallback):
            if not target:
                continue
            if not self._allowed(target):  # e.g. kept in a state file
                log.warning("assignment_callback_refused_remote_host", reservation_sid=reservation_sid)
                continue
            try:
                reply = await self._post(target, form)
            except AssignmentError as exc:
                self.failed += 1
                log.warning("assignment_callback_failed", reservation_sid=reservation_sid, error=str(exc))
                continue
            self.sent += 1
            self._apply(workspace_sid, reservation_sid, reply)
            return

    async def _post(self, url: str, form: dict[str, str]) -> dict[str, Any]:
        assert self._session is not None
        wire_url = URL(url)
        signature = compute_signature(str(wire_url), form, self._auth_token)
        try:
            async with self._session.post(wire_url, data=form, headers={SIGNATURE_HEADER: signature}) as resp:
                body = await resp.read()
                if not 200 <= resp.status < 300:
                    raise AssignmentError(f"HTTP {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AssignmentError(type(exc).__name__) from None
        if not body.strip():
            return {}
        try:
            reply = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise AssignmentError("the reply is not JSON") from None
        if not isinstance(reply, dict):
            raise AssignmentError("the reply is not a JSON object")
        return reply

    def _apply(self, workspace_sid: str, reservation_sid: str, reply: dict[str, Any]) -> None:
        instruction = reply.get("instruction")
        if instruction is None:
            return  # {}: the application answers through the REST API
        if instruction not in INSTRUCTIONS:
            log.warning("assignment_instruction_unknown", reservation_sid=reservation_sid, instruction=instruction)
            return
        parameters: dict[str, str] = {}
        names = _REPLY_FIELDS.get(instruction, {})
        for key, value in reply.items():
            if key == "instruction":
                continue
            text = value if isinstance(value, str) else orjson.dumps(value).decode()
            parameters[names.get(key, key)] = text
        activity = reply.get("activity_sid") if instruction == "reject" else None
        change = ReservationChange(
            instruction=instruction,
            worker_activity_sid=activity if isinstance(activity, str) else None,
            instruction_parameters=parameters,
        )
        try:
            self._store.update_reservation(workspace_sid, reservation_sid, change)
        except TwilioApiError as exc:  # e.g. the reservation timed out or was rescinded meanwhile
            log.info("assignment_instruction_refused", reservation_sid=reservation_sid, reason=exc.message)
