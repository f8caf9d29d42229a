"""Fault injection: make the emulator misbehave on purpose, so clients' retry and recovery paths can be tested.

Off by default: with no rules, requests and callbacks pass untouched. One `FaultInjector` per emulator app
holds two rule lists: `rest` (applied by `fault_middleware` to every API request, never to /admin/*) and
`callbacks` (consulted by `CallbackDispatcher` for every event callback).

Choosing which requests a rule hits (both kinds):
  - `count` N: the next N matching requests, then the rule is exhausted (it stays listed, still counting);
  - `fraction` p: each matching request draws `random.Random(seed).random()` (one draw per request, from
    the rule's own generator) and is hit when the draw is < p, so a run is reproducible from its seed;
  - both: a fraction of requests, at most N in total; neither: every matching request.

Admin API (JSON in and out; failures answer Twilio's error body with code 20001 naming the bad field):
  POST   /admin/faults/rest        {"path": "/v1/Workspaces/*/Workers/*", "match": "prefix"|"exact",
                                    "method": "GET"|null, "status": 429|500|503|null, "retry_after": 1,
                                    "latency_ms": 0, "count": N|null, "fraction": 0.5|null, "seed": 0}
                                   -> 201 with the rule, including its "id" and counters
  DELETE /admin/faults/rest/{id}   -> 204 (404 when no such rule)
  POST   /admin/faults/callbacks   {"mode": "drop"|"duplicate"|"reorder"|"delay", "count": N|null,
                                    "fraction": p|null, "seed": 0, "delay_ms": ms (delay only),
                                    "hold_ms": ms (reorder only), "event_types": ["worker.created"]|null}
                                   -> 201 with the rule
  DELETE /admin/faults/callbacks/{id} -> 204 (404 when no such rule)
  GET    /admin/faults             -> {"rest": [rules], "callbacks": [rules], "requests_seen": N}
  DELETE /admin/faults             -> 204; removes every rule and zeroes requests_seen
  GET    /admin/callbacks/stats    -> the callback dispatcher's counters

REST rules: `path` is a pattern over URL path segments: `*` matches one segment (or part of one: `WK*`),
`**` any number of segments, `?` one character. With "match": "prefix" (the default) the pattern matches a
path that starts with matching segments (`/v1/Workspaces/*/Workers` covers a worker and its sub-resources);
with "exact" it must match the whole path. Rules are checked in creation order; every matching rule counts
the request in `seen`; the first one that fires with a `status` answers it (after the summed latency of all
rules that fired), and rules after it do not fire. A 429 carries `Retry-After: <retry_after>`. Every
injected error carries `X-Emulator-Fault: <rule id>`.

Callback rules: `drop` never sends the callback; `duplicate` sends it twice in a row; `delay` waits
`delay_ms` before sending it (later callbacks of the workspace wait behind it, as order is kept);
`reorder` holds the callback and sends it right after the next one of the same workspace (so pairs swap);
when nothing follows within `hold_ms` (default 0: as soon as the workspace's queue is empty) the held
callback goes out anyway. `event_types` limits a rule to those event types.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from .errors import (
    INTERNAL_ERROR,
    NOT_FOUND,
    SERVICE_UNAVAILABLE,
    TOO_MANY_REQUESTS,
    TwilioApiError,
    bad_parameter,
)

if TYPE_CHECKING:
    from .callbacks import CallbackDispatcher

Sleep = Callable[[float], Awaitable[None]]

ADMIN_PREFIX = "/admin/"
FAULT_HEADER = "X-Emulator-Fault"
FAULT_STATUSES: dict[int, tuple[int, str]] = {
    429: (TOO_MANY_REQUESTS, "Too Many Requests"),
    500: (INTERNAL_ERROR, "Internal Server Error"),
    503: (SERVICE_UNAVAILABLE, "Service Unavailable"),
}
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
CALLBACK_MODES = ("drop", "duplicate", "reorder", "delay")
MATCH_KINDS = ("prefix", "exact")
MAX_MS = 600_000  # ten minutes: longer than any client deadline worth testing
MAX_RETRY_AFTER = 3600
MAX_PATTERN_LENGTH = 1000

REST_FIELDS = frozenset(
    {"path", "match", "method", "status", "retry_after", "latency_ms", "count", "fraction", "seed"}
)
CALLBACK_FIELDS = frozenset({"mode", "count", "fraction", "seed", "delay_ms", "hold_ms", "event_types"})


# --- validation: every failure names the field, because the admin API reports it verbatim ---------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_field(name: str, value: Any, *, low: int, high: int) -> int:
    if not _is_int(value) or not low <= value <= high:
        raise bad_parameter(f"Invalid {name}: must be an integer from {low} to {high}")
    return value


def _count_field(value: Any) -> int | None:
    return None if value is None else _int_field("count", value, low=1, high=2**31 - 1)


def _fraction_field(value: Any) -> float | None:
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
        raise bad_parameter("Invalid fraction: must be a number from 0 to 1")
    return float(value)


def _seed_field(value: Any) -> int:
    if value is None:
        return 0
    if not _is_int(value):
        raise bad_parameter("Invalid seed: must be an integer")
    return value


class _Trigger:
    """Decides, request by request, whether a rule fires: next N, a seeded fraction, or both."""

    def __init__(self, count: int | None, fraction: float | None, seed: int) -> None:
        self.count = count
        self.fraction = fraction
        self.seed = seed
        self.remaining = count
        self._rng = random.Random(seed)

    def fire(self) -> bool:
        if self.remaining == 0:
            return False
        if self.fraction is not None and self._rng.random() >= self.fraction:
            return False
        if self.remaining is not None:
            self.remaining -= 1
        return True


def _compile_path(pattern: str, match: str) -> re.Pattern[str]:
    parts: list[str] = []
    for segment in pattern.strip("/").split("/") if pattern.strip("/") else []:
        if segment == "**":
            parts.append("(?:/[^/]*)*")
            continue
        body = "".join(
            "[^/]*" if ch == "*" else "[^/]" if ch == "?" else re.escape(ch) for ch in segment
        )
        parts.append("/" + body)
    tail = "/?" if match == "exact" else "(?:/.*)?"
    return re.compile("".join(parts) + tail + r"\Z")


# --- REST faults ------------------------------------------------------------------------------------------


@dataclass
class RestFaultRule:
    id: str
    path: str
    match: str
    method: str | None
    status: int | None
    retry_after: int
    latency_ms: int
    trigger: _Trigger
    pattern: re.Pattern[str]
    seen: int = 0
    injected: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and method.upper() != self.method:
            return False
        return self.pattern.match(path) is not None

    def error(self) -> TwilioApiError:
        assert self.status is not None
        code, message = FAULT_STATUSES[self.status]
        headers = {FAULT_HEADER: self.id}
        if self.status == 429:
            headers["Retry-After"] = str(self.retry_after)
        return TwilioApiError(self.status, code, message, headers)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "match": self.match,
            "method": self.method,
            "status": self.status,
            "retry_after": self.retry_after,
            "latency_ms": self.latency_ms,
            "count": self.trigger.count,
            "fraction": self.trigger.fraction,
            "seed": self.trigger.seed,
            "remaining": self.trigger.remaining,
            "seen": self.seen,
            "injected": self.injected,
        }


@dataclass(frozen=True)
class RestFaultDecision:
    latency_ms: int
    error: TwilioApiError | None


class RestFaults:
    def __init__(self, sleep: Sleep = asyncio.sleep) -> None:
        self.sleep = sleep
        self.requests_seen = 0  # API requests that reached the fault middleware
        self._rules: dict[str, RestFaultRule] = {}
        self._next_id = 1

    @property
    def rules(self) -> list[RestFaultRule]:
        return list(self._rules.values())

    def add(
        self,
        *,
        path: Any,
        match: Any = "prefix",
        method: Any = None,
        status: Any = None,
        retry_after: Any = 1,
        latency_ms: Any = 0,
        count: Any = None,
        fraction: Any = None,
        seed: Any = 0,
    ) -> RestFaultRule:
        if not isinstance(path, str) or not path.startswith("/") or len(path) > MAX_PATTERN_LENGTH:
            raise bad_parameter("Invalid path: must be a string starting with '/'")
        if any(ch.isspace() for ch in path):
            raise bad_parameter("Invalid path: must not contain whitespace")
        if match is None:
            match = "prefix"
        if match not in MATCH_KINDS:
            raise bad_parameter("Invalid match: must be 'prefix' or 'exact'")
        if method is not None:
            if not isinstance(method, str) or method.upper() not in HTTP_METHODS:
                raise bad_parameter(f"Invalid method: must be null or one of {', '.join(sorted(HTTP_METHODS))}")
            method = method.upper()
        if status is not None and (not _is_int(status) or status not in FAULT_STATUSES):
            raise bad_parameter("Invalid status: must be null, 429, 500 or 503")
        retry_after = _int_field("retry_after", 1 if retry_after is None else retry_after, low=0, high=MAX_RETRY_AFTER)
        latency_ms = _int_field("latency_ms", 0 if latency_ms is None else latency_ms, low=0, high=MAX_MS)
        if status is None and latency_ms == 0:
            raise bad_parameter("Invalid status: a rule needs a status, a latency_ms above 0, or both")
        rule = RestFaultRule(
            id=f"rest-{self._next_id}",
            path=path,
            match=match,
            method=method,
            status=status,
            retry_after=retry_after,
            latency_ms=latency_ms,
            trigger=_Trigger(_count_field(count), _fraction_field(fraction), _seed_field(seed)),
            pattern=_compile_path(path, match),
        )
        self._next_id += 1
        self._rules[rule.id] = rule
        return rule

    def remove(self, rule_id: str) -> bool:
        return self._rules.pop(rule_id, None) is not None

    def clear(self) -> None:
        self._rules.clear()
        self.requests_seen = 0

    def decide(self, method: str, path: str) -> RestFaultDecision | None:
        self.requests_seen += 1
        latency_ms = 0
        error: TwilioApiError | None = None
        for rule in self._rules.values():
            if not rule.matches(method, path):
                continue
            rule.seen += 1
            if error is not None or not rule.trigger.fire():
                continue
            rule.injected += 1
            latency_ms += rule.latency_ms
            if rule.status is not None:
                error = rule.error()
        if latency_ms == 0 and error is None:
            return None
        return RestFaultDecision(latency_ms, error)


# --- callback faults --------------------------------------------------------------------------------------


@dataclass
class CallbackFaultRule:
    id: str
    mode: str
    delay_ms: int
    hold_ms: int
    event_types: frozenset[str] | None
    trigger: _Trigger
    seen: int = 0
    injected: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "mode": self.mode,
            "delay_ms": self.delay_ms,
            "hold_ms": self.hold_ms,
            "event_types": sorted(self.event_types) if self.event_types is not None else None,
            "count": self.trigger.count,
            "fraction": self.trigger.fraction,
            "seed": self.trigger.seed,
            "remaining": self.trigger.remaining,
            "seen": self.seen,
            "injected": self.injected,
        }


@dataclass(frozen=True)
class CallbackPlan:
    drop: bool = False
    duplicate: bool = False
    hold: bool = False
    hold_ms: int = 0
    delay_ms: int = 0


NO_FAULT = CallbackPlan()


def _event_types_field(value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise bad_parameter("Invalid event_types: must be null or a non-empty list of event type strings")
    return frozenset(v.strip() for v in value)


class CallbackFaults:
    def __init__(self, sleep: Sleep = asyncio.sleep) -> None:
        self.sleep = sleep
        self._rules: dict[str, CallbackFaultRule] = {}
        self._next_id = 1

    @property
    def rules(self) -> list[CallbackFaultRule]:
        return list(self._rules.values())

    def add(
        self,
        *,
        mode: Any,
        count: Any = None,
        fraction: Any = None,
        seed: Any = 0,
        delay_ms: Any = None,
        hold_ms: Any = None,
        event_types: Any = None,
    ) -> CallbackFaultRule:
        if mode not in CALLBACK_MODES:
            raise bad_parameter(f"Invalid mode: must be one of {', '.join(CALLBACK_MODES)}")
        if mode == "delay":
            if delay_ms is None:
                raise bad_parameter("Invalid delay_ms: required when mode is delay")
            delay_ms = _int_field("delay_ms", delay_ms, low=1, high=MAX_MS)
        elif delay_ms is not None:
            raise bad_parameter("Invalid delay_ms: only applies when mode is delay")
        if mode == "reorder":
            hold_ms = _int_field("hold_ms", 0 if hold_ms is None else hold_ms, low=0, high=MAX_MS)
        elif hold_ms is not None:
            raise bad_parameter("Invalid hold_ms: only applies when mode is reorder")
        rule = CallbackFaultRule(
            id=f"callback-{self._next_id}",
            mode=mode,
            delay_ms=delay_ms or 0,
            hold_ms=hold_ms or 0,
            event_types=_event_types_field(event_types),
            trigger=_Trigger(_count_field(count), _fraction_field(fraction), _seed_field(seed)),
        )
        self._next_id += 1
        self._rules[rule.id] = rule
        return rule

    def remove(self, rule_id: str) -> bool:
        return self._rules.pop(rule_id, None) is not None

    def clear(self) -> None:
        self._rules.clear()

    def plan(self, event_type: str, *, may_hold: bool = True) -> CallbackPlan:
        """What to do with one callback. `may_hold` is False while another callback is held: that one
        is waiting for exactly this callback to pass it, so reorder rules neither see nor hold it."""
        if not self._rules:
            return NO_FAULT
        drop = duplicate = hold = False
        hold_ms = delay_ms = 0
        for rule in self._rules.values():
            if rule.event_types is not None and event_type not in rule.event_types:
                continue
            if rule.mode == "reorder" and not may_hold:
                continue
            rule.seen += 1
            if drop or not rule.trigger.fire():
                continue
            rule.injected += 1
            if rule.mode == "drop":
                drop = True
            elif rule.mode == "duplicate":
                duplicate = True
            elif rule.mode == "delay":
                delay_ms += rule.delay_ms
            elif not hold:
                hold, hold_ms = True, rule.hold_ms
        if drop:
            return CallbackPlan(drop=True, delay_ms=delay_ms)
        return CallbackPlan(duplicate=duplicate, hold=hold, hold_ms=hold_ms, delay_ms=delay_ms)


class FaultInjector:
    """Both rule lists of one emulator app. `sleep` is how latency and delay faults wait (tests may gate it)."""

    def __init__(self, sleep: Sleep = asyncio.sleep) -> None:
        self.rest = RestFaults(sleep)
        self.callbacks = CallbackFaults(sleep)

    def clear(self) -> None:
        self.rest.clear()
        self.callbacks.clear()


# --- HTTP -------------------------------------------------------------------------------------------------


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, headers=headers, content_type="application/json")


def error_response(error: TwilioApiError) -> web.Response:
    return _json(error.body(), error.status, error.headers)


def _is_admin(path: str) -> bool:
    return path == ADMIN_PREFIX.rstrip("/") or path.startswith(ADMIN_PREFIX)


def fault_middleware(injector: FaultInjector) -> Any:
    @web.middleware
    async def faults(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
        if _is_admin(request.path):
            return await handler(request)
        decision = injector.rest.decide(request.method, request.path)
        if decision is None:
            return await handler(request)
        if decision.latency_ms:
            await injector.rest.sleep(decision.latency_ms / 1000)
        if decision.error is not None:
            return error_response(decision.error)
        return await handler(request)

    return faults


async def _json_object(request: web.Request, allowed: Iterable[str]) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise bad_parameter("Invalid body: must be a JSON object") from None
    if not isinstance(body, dict):
        raise bad_parameter("Invalid body: must be a JSON object")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise bad_parameter(f"Invalid {unknown[0]}: unknown field")
    return body


class _AdminApi:
    def __init__(self, injector: FaultInjector, dispatcher: CallbackDispatcher | None) -> None:
        self.injector = injector
        self.dispatcher = dispatcher

    async def add_rest(self, request: web.Request) -> web.Response:
        body = await _json_object(request, REST_FIELDS)
        if "path" not in body:
            raise bad_parameter("Invalid path: required")
        return _json(self.injector.rest.add(**body).to_json(), 201)

    async def add_callback(self, request: web.Request) -> web.Response:
        body = await _json_object(request, CALLBACK_FIELDS)
        if "mode" not in body:
            raise bad_parameter("Invalid mode: required")
        return _json(self.injector.callbacks.add(**body).to_json(), 201)

    async def remove_rest(self, request: web.Request) -> web.Response:
        if not self.injector.rest.remove(request.match_info["id"]):
            raise TwilioApiError(404, NOT_FOUND, f"No REST fault rule {request.match_info['id']}")
        return web.Response(status=204)

    async def remove_callback(self, request: web.Request) -> web.Response:
        if not self.injector.callbacks.remove(request.match_info["id"]):
            raise TwilioApiError(404, NOT_FOUND, f"No callback fault rule {request.match_info['id']}")
        return web.Response(status=204)

    async def list(self, request: web.Request) -> web.Response:
        return _json(
            {
                "rest": [rule.to_json() for rule in self.injector.rest.rules],
                "callbacks": [rule.to_json() for rule in self.injector.callbacks.rules],
                "requests_seen": self.injector.rest.requests_seen,
            }
        )

    async def clear(self, request: web.Request) -> web.Response:
        self.injector.clear()
        return web.Response(status=204)

    async def stats(self, request: web.Request) -> web.Response:
        if self.dispatcher is None:
            raise TwilioApiError(404, NOT_FOUND, "This emulator has no callback dispatcher")
        return _json(self.dispatcher.stats_json())


def _twilio_errors(
    handler: Callable[[web.Request], Awaitable[web.Response]],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    # Rendered here rather than by the app's error middleware, so the admin API answers the same anywhere.
    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except TwilioApiError as error:
            return error_response(error)

    return wrapped


def register_admin_routes(
    app: web.Application, injector: FaultInjector, dispatcher: CallbackDispatcher | None = None
) -> None:
    api = _AdminApi(injector, dispatcher)
    router = app.router
    router.add_post("/admin/faults/rest", _twilio_errors(api.add_rest))
    router.add_delete("/admin/faults/rest/{id}", _twilio_errors(api.remove_rest))
    router.add_post("/admin/faults/callbacks", _twilio_errors(api.add_callback))
    router.add_delete("/admin/faults/callbacks/{id}", _twilio_errors(api.remove_callback))
    router.add_get("/admin/faults", _twilio_errors(api.list))
    router.add_delete("/admin/faults", _twilio_errors(api.clear))
    router.add_get("/admin/callbacks/stats", _twilio_errors(api.stats))
