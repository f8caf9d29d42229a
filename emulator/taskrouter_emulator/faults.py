"""Fault injection: make the emulator misbehave on purpose, so clients' retry and recovery paths can be tested.

Off by default: with no rules, requests and callbacks pass untouched. One `FaultInjector` per emulator app
holds two rule lists: `rest` (applied by `fault_middleware` to every API request, never to /admin/*) and
`callbacks` (consulted by `CallbackDispatcher` for every event callback). No HTTP here.

Choosing which requests a rule hits (both kinds):
  - `count` N: the next N matching requests, then the rule is exhausted (it stays listed, still counting);
  - `fraction` p: each matching request draws `random.Random(seed).random()` (one draw per request, from
    the rule's own generator) and is hit when the draw is < p, so a run is reproducible from its seed;
  - both: a fraction of requests, at most N in total; neither: every matching request.

The admin API that adds and removes rules is routes/faults.py; the middleware that applies REST rules is
middleware.fault_middleware.

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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from .errors import (
    INTERNAL_ERROR,
    SERVICE_UNAVAILABLE,
    TOO_MANY_REQUESTS,
    TwilioApiError,
    bad_parameter,
)

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


def _trigger_json(trigger: _Trigger, seen: int, injected: int) -> dict[str, Any]:
    return {
        "count": trigger.count,
        "fraction": trigger.fraction,
        "seed": trigger.seed,
        "remaining": trigger.remaining,
        "seen": seen,
        "injected": injected,
    }


class _Identified(Protocol):
    id: str


R = TypeVar("R", bound=_Identified)


class _Rules(Generic[R]):
    """One list of rules, in creation order, each with an id "<prefix>-<n>"; both kinds keep theirs here."""

    def __init__(self, prefix: str, sleep: Sleep) -> None:
        self.sleep = sleep
        self._prefix = prefix
        self._rules: dict[str, R] = {}
        self._next_id = 1

    @property
    def rules(self) -> list[R]:
        return list(self._rules.values())

    def _new_id(self) -> str:
        return f"{self._prefix}-{self._next_id}"  # taken by _keep, once the rule is valid

    def _keep(self, rule: R) -> R:
        self._next_id += 1
        self._rules[rule.id] = rule
        return rule

    def remove(self, rule_id: str) -> bool:
        return self._rules.pop(rule_id, None) is not None

    def clear(self) -> None:
        self._rules.clear()


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
            **_trigger_json(self.trigger, self.seen, self.injected),
        }


@dataclass(frozen=True)
class RestFaultDecision:
    latency_ms: int
    error: TwilioApiError | None


class RestFaults(_Rules[RestFaultRule]):
    def __init__(self, sleep: Sleep = asyncio.sleep) -> None:
        super().__init__("rest", sleep)
        self.requests_seen = 0  # API requests that reached the fault middleware

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
            id=self._new_id(),
            path=path,
            match=match,
            method=method,
            status=status,
            retry_after=retry_after,
            latency_ms=latency_ms,
            trigger=_Trigger(_count_field(count), _fraction_field(fraction), _seed_field(seed)),
            pattern=_compile_path(path, match),
        )
        return self._keep(rule)

    def clear(self) -> None:
        super().clear()
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
            **_trigger_json(self.trigger, self.seen, self.injected),
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


class CallbackFaults(_Rules[CallbackFaultRule]):
    def __init__(self, sleep: Sleep = asyncio.sleep) -> None:
        super().__init__("callback", sleep)

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
            id=self._new_id(),
            mode=mode,
            delay_ms=delay_ms or 0,
            hold_ms=hold_ms or 0,
            event_types=_event_types_field(event_types),
            trigger=_Trigger(_count_field(count), _fraction_field(fraction), _seed_field(seed)),
        )
        return self._keep(rule)

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
