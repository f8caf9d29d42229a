"""Statistics of workspaces, task queues, workers and workflows.

Real-time figures come from the current state (statistics/realtime.py), cumulative ones from the event log
over the window (statistics/index.py, statistics/cumulative.py). Registered before the resource routes so
".../TaskQueues/Statistics" is not read as a queue SID.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from .. import paging, params, render
from ..context import CONTEXT
from ..errors import TOO_MANY_REQUESTS, TwilioApiError, bad_parameter
from ..statistics import cumulative as cum
from ..statistics import realtime as rt
from ..statistics.index import Fact, StatisticsIndex
from ..statistics.window import MAX_STATISTICS_MINUTES, split_thresholds, time_window
from .common import context, list_response, read_form

INDEX = web.AppKey("taskrouter_emulator.statistics_index", StatisticsIndex)

MAX_BULK_QUEUES = 50
BULK_REQUESTS_PER_SECOND = 5  # Twilio's documented rate for the bulk real-time statistics endpoint


class BulkLimiter:
    """At most 5 bulk requests per workspace in any second of the store's clock (virtual time makes it
    deterministic in tests); a refused request is told when the oldest one leaves the window."""

    def __init__(self) -> None:
        self._recent: dict[str, deque[float]] = {}
        self.admitted = 0
        self.refused = 0  # answered 429: what a client that keeps to the rate never sees

    def admit(self, workspace_sid: str, now: float) -> None:
        recent = self._recent.setdefault(workspace_sid, deque())
        while recent and recent[0] <= now - 1.0:
            recent.popleft()
        if len(recent) >= BULK_REQUESTS_PER_SECOND:
            self.refused += 1
            wait = max(1, math.ceil(recent[0] + 1.0 - now))
            raise TwilioApiError(
                429, TOO_MANY_REQUESTS,
                f"Too many requests: bulk real-time statistics allows {BULK_REQUESTS_PER_SECOND} requests per second",
                {"Retry-After": str(wait)},
            )
        recent.append(now)
        self.admitted += 1


async def limits(request: web.Request) -> web.Response:
    """GET /admin/limits: what the rate limits let through and refused, for clients that must keep to them."""
    limiter = request.app[LIMITER]
    return render.json_response({"bulk_realtime_statistics": {
        "per_second": BULK_REQUESTS_PER_SECOND, "admitted": limiter.admitted, "refused": limiter.refused}})


LIMITER = web.AppKey("taskrouter_emulator.bulk_limiter", BulkLimiter)


class _Scope:
    """What every statistics handler reads: the store, the workspace, now, the window and the channel."""

    def __init__(self, request: web.Request, *, windowed: bool = True) -> None:
        ctx = context(request)
        self.request = request
        self.store = ctx.store
        self.workspace_sid = request.match_info["workspace_sid"]
        self.workspace = self.store.get_workspace(self.workspace_sid)  # 404 before any 400
        self.query = request.query
        self.now = self.store.clock()
        self.window = time_window(self.query, self.now, max_minutes=MAX_STATISTICS_MINUTES) if windowed else None
        self.split = split_thresholds(self.query) if windowed else None
        self.channel = self._channel(params.text(self.query, "TaskChannel"))
        self.url = ctx.base(request) + request.path
        self._index = request.app[INDEX]

    def _channel(self, value: str | None) -> str | None:
        if value is None:
            return None
        for channel in self.store.list_task_channels(self.workspace_sid):
            if value in (channel.sid, channel.unique_name):
                return str(channel.sid)
        raise bad_parameter(f"TaskChannel {value} is not a TaskChannel in Workspace {self.workspace_sid}")

    def ids(self, **extra: Any) -> dict[str, Any]:
        return {"account_sid": self.workspace.account_sid, "workspace_sid": self.workspace_sid, **extra}

    def facts(self) -> list[Fact]:
        assert self.window is not None
        end = self.window.end
        return self._index.facts(self.workspace_sid).between(
            int(self.window.start * 1000), int(end * 1000) if end is not None else None
        )

    def fold(self, facts: list[Fact] | None = None, **scope: Any) -> cum.Fold:
        return cum.fold(self.facts() if facts is None else facts, channel=self.channel, **scope)

    def interval(self) -> dict[str, str]:
        assert self.window is not None
        end = self.window.end if self.window.end is not None else self.now
        return {"start_time": render.iso(self.window.start), "end_time": render.iso(end)}

    def activities(self) -> list[Any]:
        return list(self.store.list_activities(self.workspace_sid))


# ---- workspace --------------------------------------------------------------------------------------------


def _workspace_cumulative(scope: _Scope) -> dict[str, Any]:
    result = scope.fold()
    return {
        **cum.wait_figures(result, scope.split),
        "tasks_created": result.count("task.created"),
        "tasks_timed_out_in_workflow": result.count("workflow.timeout"),
        **scope.interval(),
    }


def _workspace_realtime(scope: _Scope) -> dict[str, Any]:
    workers = rt.all_workers(scope.store, scope.workspace_sid, scope.channel)
    return {
        **rt.task_figures(rt.live_tasks(scope.store, scope.workspace_sid, scope.channel), scope.now),
        "activity_statistics": rt.activity_statistics(scope.activities(), workers),
        "total_workers": len(workers),
    }


async def workspace_statistics(request: web.Request) -> web.Response:
    scope = _Scope(request)
    return render.json_response(scope.ids(
        realtime=_workspace_realtime(scope), cumulative=_workspace_cumulative(scope), url=scope.url))


async def workspace_cumulative(request: web.Request) -> web.Response:
    scope = _Scope(request)
    return render.json_response(scope.ids(**_workspace_cumulative(scope), url=scope.url))


async def workspace_realtime(request: web.Request) -> web.Response:
    scope = _Scope(request, windowed=False)
    return render.json_response(scope.ids(**_workspace_realtime(scope), url=scope.url))


# ---- task queues ------------------------------------------------------------------------------------------


def _queue_cumulative(scope: _Scope, queue_sid: str, facts: list[Fact] | None = None) -> dict[str, Any]:
    result = scope.fold(facts, queue=queue_sid)
    return {
        **cum.wait_figures(result, scope.split),
        "wait_duration_in_queue_until_accepted": result.in_queue_until_accepted.render(),
        "tasks_entered": result.count("task-queue.entered"),
        **scope.interval(),
    }


def _queue_realtime(scope: _Scope, queue_sid: str) -> dict[str, Any]:
    return rt.queue_figures(scope.store, scope.workspace_sid, queue_sid, scope.activities(), scope.channel, scope.now)


def _queue_sid(scope: _Scope) -> str:
    return str(scope.store.get_task_queue(scope.workspace_sid, scope.request.match_info["queue_sid"]).sid)


def _handlers(id_field: str, sid_of: Any, realtime: Any, cumulative: Any) -> tuple[Any, Any, Any]:
    """Statistics, CumulativeStatistics and RealTimeStatistics of one resource (a queue or a workflow)."""

    async def both(request: web.Request) -> web.Response:
        scope = _Scope(request)
        sid = sid_of(scope)
        return render.json_response(scope.ids(**{id_field: sid}, realtime=realtime(scope, sid),
                                              cumulative=cumulative(scope, sid), url=scope.url))

    async def cumulative_only(request: web.Request) -> web.Response:
        scope = _Scope(request)
        sid = sid_of(scope)
        return render.json_response(scope.ids(**{id_field: sid}, **cumulative(scope, sid), url=scope.url))

    async def realtime_only(request: web.Request) -> web.Response:
        scope = _Scope(request, windowed=False)
        sid = sid_of(scope)
        return render.json_response(scope.ids(**{id_field: sid}, **realtime(scope, sid), url=scope.url))

    return both, cumulative_only, realtime_only


queue_statistics, queue_cumulative, queue_realtime = _handlers(
    "task_queue_sid", _queue_sid, _queue_realtime, _queue_cumulative)


async def list_queue_statistics(request: web.Request) -> web.Response:
    scope = _Scope(request)
    page_request = paging.parse_page_request(scope.query, "task_queues_statistics")
    queues = scope.store.list_task_queues(scope.workspace_sid, friendly_name=params.text(scope.query, "FriendlyName"))
    seq = scope.store.sort_key
    page = paging.paginate(queues, lambda q: (seq(q.sid),), page_request, "task_queues_statistics")
    # One pass splits the window's facts by queue, so a page of 50 queues costs one fold of the window.
    by_queue: dict[str, list[Fact]] = {queue.sid: [] for queue in page.items}
    for fact in scope.facts():
        found = by_queue.get(fact.queue)
        if found is not None:
            found.append(fact)
    records = [
        scope.ids(task_queue_sid=queue.sid, realtime=_queue_realtime(scope, queue.sid),
                  cumulative=_queue_cumulative(scope, queue.sid, by_queue[queue.sid]))
        for queue in page.items
    ]
    return list_response(request, "task_queues_statistics", records, page_request, page)


# Twilio's TaskQueue Statistics page names the list QueueSids in its parameter table; its curl example writes
# queueSids. Both are what Twilio documents, so both are taken; any other key (TaskQueueSids was this project's
# guess) is a 400 that names the documented one.
BULK_KEY = "QueueSids"
_BULK_KEYS = (BULK_KEY, "queueSids")


async def _bulk_queue_sids(request: web.Request) -> list[str]:
    """QueueSids from a JSON body ({"QueueSids": [...]}, as Twilio's libraries send it) or a form."""
    if request.content_type == "application/json":
        try:
            body = orjson.loads(await request.read() or b"{}")
        except orjson.JSONDecodeError as exc:
            raise bad_parameter(f"The body must be JSON: {exc}") from None
        if not isinstance(body, dict):
            raise bad_parameter(f"The body must be a JSON object with {BULK_KEY}")
        keys = [key for key in _BULK_KEYS if key in body]
        if len(keys) > 1:
            raise bad_parameter(f"Give {BULK_KEY} once, not as both {' and '.join(keys)}")
        sids = body[keys[0]] if keys else []
        if not isinstance(sids, list) or not all(isinstance(sid, str) for sid in sids):
            raise bad_parameter(f"{BULK_KEY} must be a list of TaskQueue SIDs")
        other = sorted(key for key in body if key not in _BULK_KEYS)
    else:
        form = await read_form(request)
        keys = [key for key in _BULK_KEYS if key in form]
        if len(keys) > 1:
            raise bad_parameter(f"Give {BULK_KEY} once, not as both {' and '.join(keys)}")
        sids = form.getall(keys[0]) if keys else []
        other = sorted({key for key in form if key not in _BULK_KEYS})
    if other:
        raise bad_parameter(f"Unknown parameter {', '.join(other)}: the TaskQueues go in {BULK_KEY}")
    if not sids:
        raise bad_parameter(f"{BULK_KEY} is required: the TaskQueues (1 to 50) to fetch statistics of")
    if len(sids) > MAX_BULK_QUEUES:
        raise bad_parameter(f"{BULK_KEY} takes at most {MAX_BULK_QUEUES} TaskQueue SIDs, got {len(sids)}")
    return list(sids)


async def bulk_queue_realtime(request: web.Request) -> web.Response:
    scope = _Scope(request, windowed=False)
    request.app[LIMITER].admit(scope.workspace_sid, scope.now)
    sids = await _bulk_queue_sids(request)
    queues = {queue.sid for queue in scope.store.list_task_queues(scope.workspace_sid)}
    for sid in sids:
        if sid not in queues:
            raise bad_parameter(f"{BULK_KEY}: {sid} is not a TaskQueue in Workspace {scope.workspace_sid}")
    data = [{"task_queue_sid": sid, **_queue_realtime(scope, sid)} for sid in sids]
    return render.json_response(scope.ids(task_queue_data=data, task_queue_response_count=len(data), url=scope.url))


# ---- workers ----------------------------------------------------------------------------------------------


def _workers_cumulative(scope: _Scope, workers: set[str] | None) -> dict[str, Any]:
    result = scope.fold(workers=workers)
    return {
        **cum.reservation_figures(result),
        "activity_durations": cum.activity_durations(result, scope.activities()),
        **scope.interval(),
    }


def _workers_realtime(scope: _Scope, pairs: list[Any]) -> dict[str, Any]:
    return {"total_workers": len(pairs), "activity_statistics": rt.activity_statistics(scope.activities(), pairs)}


_WORKER_FILTERS = (("TaskQueueSid", "task_queue_sid"), ("TaskQueueName", "task_queue_name"),
                   ("FriendlyName", "friendly_name"))


def _worker_filters(query: Mapping[str, str]) -> dict[str, str]:
    found = {name: params.text(query, param) for param, name in _WORKER_FILTERS}
    if found["task_queue_sid"] is not None:
        found["task_queue_sid"] = params.sid(query, "TaskQueueSid", "WQ")
    return {name: value for name, value in found.items() if value is not None}


async def workers_statistics(request: web.Request) -> web.Response:
    scope = _Scope(request)
    filters = _worker_filters(scope.query)
    pairs = rt.all_workers(scope.store, scope.workspace_sid, scope.channel, **filters)
    workers = {worker.sid for worker, _ in pairs} if filters else None
    return render.json_response(scope.ids(
        realtime=_workers_realtime(scope, pairs), cumulative=_workers_cumulative(scope, workers), url=scope.url))


async def workers_cumulative(request: web.Request) -> web.Response:
    scope = _Scope(request)
    return render.json_response(scope.ids(**_workers_cumulative(scope, None), url=scope.url))


async def workers_realtime(request: web.Request) -> web.Response:
    scope = _Scope(request, windowed=False)
    pairs = rt.all_workers(scope.store, scope.workspace_sid, scope.channel)
    return render.json_response(scope.ids(**_workers_realtime(scope, pairs), url=scope.url))


async def worker_statistics(request: web.Request) -> web.Response:
    scope = _Scope(request)
    worker, _ = scope.store.get_worker(scope.workspace_sid, request.match_info["worker_sid"])
    return render.json_response(scope.ids(
        worker_sid=worker.sid, cumulative=_workers_cumulative(scope, {worker.sid}), url=scope.url))


# ---- workflows --------------------------------------------------------------------------------------------


def _workflow_cumulative(scope: _Scope, workflow_sid: str) -> dict[str, Any]:
    result = scope.fold(workflow=workflow_sid)
    return {
        **cum.wait_figures(result, scope.split),
        "tasks_entered": result.count("workflow.entered"),
        "tasks_timed_out_in_workflow": result.count("workflow.timeout"),
        **scope.interval(),
    }


def _workflow_realtime(scope: _Scope, workflow_sid: str) -> dict[str, Any]:
    tasks = rt.live_tasks(scope.store, scope.workspace_sid, scope.channel, workflow_sid=workflow_sid)
    return rt.task_figures(tasks, scope.now)


def _workflow_sid(scope: _Scope) -> str:
    return str(scope.store.get_workflow(scope.workspace_sid, scope.request.match_info["workflow_sid"]).sid)


workflow_statistics, workflow_cumulative, workflow_realtime = _handlers(
    "workflow_sid", _workflow_sid, _workflow_realtime, _workflow_cumulative)


def register(app: web.Application) -> None:
    store = app[CONTEXT].store
    index = StatisticsIndex(store)
    store.add_listener(index.on_event)
    app[INDEX] = index
    app[LIMITER] = BulkLimiter()
    ws = "/v1/Workspaces/{workspace_sid}"
    get = app.router.add_get
    for path, handler in (
        ("/Statistics", workspace_statistics),
        ("/CumulativeStatistics", workspace_cumulative),
        ("/RealTimeStatistics", workspace_realtime),
        ("/TaskQueues/Statistics", list_queue_statistics),
        ("/TaskQueues/{queue_sid}/Statistics", queue_statistics),
        ("/TaskQueues/{queue_sid}/CumulativeStatistics", queue_cumulative),
        ("/TaskQueues/{queue_sid}/RealTimeStatistics", queue_realtime),
        ("/Workers/Statistics", workers_statistics),
        ("/Workers/CumulativeStatistics", workers_cumulative),
        ("/Workers/RealTimeStatistics", workers_realtime),
        ("/Workers/{worker_sid}/Statistics", worker_statistics),
        ("/Workflows/{workflow_sid}/Statistics", workflow_statistics),
        ("/Workflows/{workflow_sid}/CumulativeStatistics", workflow_cumulative),
        ("/Workflows/{workflow_sid}/RealTimeStatistics", workflow_realtime),
    ):
        get(ws + path, handler, allow_head=False)
    app.router.add_post(ws + "/TaskQueues/RealTimeStatistics", bulk_queue_realtime)
    app.router.add_get("/admin/limits", limits, allow_head=False)
