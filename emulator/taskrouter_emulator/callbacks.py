"""Event callbacks: the signed form POSTs TaskRouter sends to a workspace's EventCallbackUrl.

Delivery is asynchronous and strictly ordered per workspace: one bounded queue and one worker task per
workspace, so a slow receiver only delays its own workspace. A failed POST (connection error, timeout,
non-2xx) is logged and not retried, as TaskRouter does by default. Fault rules (faults.CallbackFaults)
may drop, duplicate, reorder or delay callbacks.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import structlog
from yarl import URL

from .defaults import CALLBACK_TIMEOUT_SECONDS
from .faults import CallbackFaults
from .model import Event, Workspace
from .signing import SIGNATURE_HEADER, compute_signature

log = structlog.get_logger(__name__)

DEFAULT_MAX_QUEUE = 10_000
USER_AGENT = "TwilioProxy/1.1"  # what Twilio's webhook requests identify as

_RESOURCE_TYPES = {
    "activity": "Activity",
    "reservation": "Reservation",
    "task": "Task",
    "taskchannel": "TaskChannel",
    "taskqueue": "TaskQueue",
    "worker": "Worker",
    "workflow": "Workflow",
    "workspace": "Workspace",
}


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.replace("-", "_").split("_"))


def _resource_type(value: str) -> str:
    return _RESOURCE_TYPES.get(value.replace("-", "").replace("_", "").lower()) or _camel(value)


def _form_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (int, float)):
        return str(value)
    return orjson.dumps(value).decode()


def callback_form(workspace: Workspace, event: Event) -> dict[str, str]:
    form = {_camel(key): _form_value(value) for key, value in event.event_data.items()}
    # The common fields win over event_data keys that camel-case to the same name (workspace_sid, ...).
    form.update(
        EventType=event.event_type,
        AccountSid=event.account_sid,
        WorkspaceSid=event.workspace_sid,
        WorkspaceName=workspace.friendly_name,
        EventDescription=event.description,
        ResourceType=_resource_type(event.resource_type),
        ResourceSid=event.resource_sid,
        Timestamp=str(event.event_date_ms // 1000),
        TimestampMs=str(event.event_date_ms),
        Sid=event.sid,
    )
    return form


def _listed(events_filter: str | None, event_type: str) -> bool:
    wanted = {name.strip() for name in (events_filter or "").split(",") if name.strip()}
    return not wanted or event_type in wanted


def _loggable_url(url: str) -> str:
    # Userinfo and query strings may carry credentials; the host and path are enough to debug.
    try:
        parsed = URL(url)
        return str(parsed.with_user(None).with_query(None).with_fragment(None))
    except (ValueError, TypeError):
        return "<unparseable url>"


@dataclass
class CallbackStats:
    submitted: int = 0  # accepted into a workspace queue
    skipped: int = 0  # not queued: no callback URL, not in EventsFilter, or dispatcher closed
    delivered: int = 0  # POSTs answered 2xx (a duplicated callback counts twice)
    failed: int = 0  # POSTs that failed: connection error, timeout or non-2xx; never retried
    dropped: int = 0  # withheld by a drop fault
    duplicated: int = 0  # extra POSTs sent by a duplicate fault
    reordered: int = 0  # held back by a reorder fault
    delayed: int = 0  # held up by a delay fault
    overflowed: int = 0  # refused because the workspace queue was full


@dataclass(frozen=True)
class _Callback:
    """Everything needed to send one callback, captured at submit time (the workspace may change later)."""

    workspace_sid: str
    event_sid: str
    event_type: str
    url: str
    form: dict[str, str]


@dataclass
class _Lane:
    queue: asyncio.Queue[_Callback]
    task: asyncio.Task[None] | None = None


class CallbackDispatcher:
    def __init__(
        self,
        auth_token: str,
        faults: CallbackFaults,
        *,
        timeout: float = CALLBACK_TIMEOUT_SECONDS,
        max_queue: int = DEFAULT_MAX_QUEUE,
        allowed: Callable[[str], bool] = lambda url: True,
    ) -> None:
        self._allowed = allowed
        if not auth_token:
            raise ValueError("auth_token must be a non-empty string")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        self._auth_token = auth_token
        self._faults = faults
        self._timeout = timeout
        self._max_queue = max_queue
        self._session: aiohttp.ClientSession | None = None
        self._lanes: dict[str, _Lane] = {}
        self._closed = False
        self._pending = 0  # submitted callbacks not yet attempted (held ones included)
        self._idle = asyncio.Event()
        self._idle.set()
        self.stats = CallbackStats()

    @property
    def pending(self) -> int:
        return self._pending

    def stats_json(self) -> dict[str, int]:
        return {**dataclasses.asdict(self.stats), "pending": self._pending}

    async def start(self) -> None:
        if self._session is not None:
            raise RuntimeError("CallbackDispatcher already started")
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._timeout),
            cookie_jar=aiohttp.DummyCookieJar(),
            headers={"User-Agent": USER_AGENT},
        )

    async def close(self) -> None:
        self._closed = True
        tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._lanes.clear()
        self._pending = 0
        self._idle.set()
        if self._session is not None:
            await self._session.close()

    def submit(self, workspace: Workspace, event: Event) -> None:
        url = workspace.event_callback_url
        if not url or not _listed(workspace.events_filter, event.event_type):
            self.stats.skipped += 1
            return
        if not self._allowed(url):
            # Refused when set; this catches a URL kept in a state file from a run that allowed it.
            self.stats.skipped += 1
            log.warning("event_callback_refused_remote_host", workspace_sid=event.workspace_sid, url=_loggable_url(url))
            return
        if self._closed:
            self.stats.skipped += 1
            log.debug("event_callback_after_close", workspace_sid=event.workspace_sid, event_sid=event.sid)
            return
        if self._session is None:
            raise RuntimeError("CallbackDispatcher.submit() called before start()")
        lane = self._lanes.get(event.workspace_sid)
        if lane is None:
            lane = self._lanes[event.workspace_sid] = _Lane(asyncio.Queue(self._max_queue))
            lane.task = asyncio.get_running_loop().create_task(
                self._run(lane), name=f"event-callbacks-{event.workspace_sid}"
            )
        callback = _Callback(event.workspace_sid, event.sid, event.event_type, url, callback_form(workspace, event))
        try:
            lane.queue.put_nowait(callback)
        except asyncio.QueueFull:
            self.stats.overflowed += 1
            log.warning(
                "event_callback_queue_full",
                workspace_sid=event.workspace_sid,
                event_sid=event.sid,
                event_type=event.event_type,
                max_queue=self._max_queue,
            )
            return
        self.stats.submitted += 1
        self._pending += 1
        self._idle.clear()

    async def wait_idle(self) -> None:
        await self._idle.wait()

    # --- the per-workspace worker -------------------------------------------------------------------------

    async def _run(self, lane: _Lane) -> None:
        queue = lane.queue
        held: _Callback | None = None
        held_duplicate = False
        held_ms = 0
        while True:
            if held is not None and queue.empty():
                callback = await self._wait_for_follower(queue, held_ms)
                if callback is None:  # nothing followed the held callback: flush it
                    await self._deliver(held, duplicate=held_duplicate)
                    held = None
                    continue
            else:
                callback = await queue.get()
            plan = self._faults.plan(callback.event_type, may_hold=held is None)
            if plan.delay_ms:
                self.stats.delayed += 1
                await self._faults.sleep(plan.delay_ms / 1000)
            if plan.drop:
                self.stats.dropped += 1
                log.info("event_callback_dropped_by_fault", workspace_sid=callback.workspace_sid,
                         event_sid=callback.event_sid, event_type=callback.event_type)
                self._finished()
            elif plan.hold:
                self.stats.reordered += 1
                held, held_duplicate, held_ms = callback, plan.duplicate, plan.hold_ms
                continue
            else:
                await self._deliver(callback, duplicate=plan.duplicate)
            if held is not None:
                await self._deliver(held, duplicate=held_duplicate)
                held = None

    @staticmethod
    async def _wait_for_follower(queue: asyncio.Queue[_Callback], hold_ms: int) -> _Callback | None:
        if hold_ms <= 0:
            return None
        try:
            return await asyncio.wait_for(queue.get(), hold_ms / 1000)
        except TimeoutError:
            return None

    def _finished(self) -> None:
        self._pending -= 1
        if self._pending <= 0:
            self._pending = 0
            self._idle.set()

    async def _deliver(self, callback: _Callback, *, duplicate: bool) -> None:
        try:
            await self._post(callback)
            if duplicate:
                self.stats.duplicated += 1
                await self._post(callback)
        finally:
            self._finished()

    async def _post(self, callback: _Callback) -> None:
        assert self._session is not None
        context = dict(
            workspace_sid=callback.workspace_sid,
            event_sid=callback.event_sid,
            event_type=callback.event_type,
            url=_loggable_url(callback.url),
        )
        try:
            url = URL(callback.url)
            # Signed over the URL exactly as it goes on the wire, which is what a receiver reconstructs.
            signature = compute_signature(str(url), callback.form, self._auth_token)
            async with self._session.post(url, data=callback.form, headers={SIGNATURE_HEADER: signature}) as resp:
                await resp.read()
                if 200 <= resp.status < 300:
                    self.stats.delivered += 1
                    return
                self.stats.failed += 1
                log.warning("event_callback_failed", status=resp.status, retried=False, **context)
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            self.stats.failed += 1
            log.warning("event_callback_failed", error="timeout", timeout_s=self._timeout, retried=False, **context)
        except Exception as exc:  # noqa: BLE001 - one bad receiver must never stop the workspace's worker
            self.stats.failed += 1
            detail = str(exc).replace(callback.url, context["url"])[:200]
            log.warning("event_callback_failed", error=type(exc).__name__, detail=detail, retried=False, **context)
