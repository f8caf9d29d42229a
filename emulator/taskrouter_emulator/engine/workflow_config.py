"""A Workflow's Configuration JSON: parsed and validated once, when the Workflow is created or updated.

Shape (Twilio's "Configuring Workflows" page):
    {"task_routing": {"filters": [{"filter_friendly_name": "...", "expression": "<task expression>",
                                   "targets": [{"queue": "WQ...", "expression": "<worker/task expression>",
                                                "priority": 5, "timeout": 30, "skip_if": "workers.available == 0",
                                                "order_by": "worker.level DESC", "known_worker_sid": "task.agent",
                                                "known_worker_friendly_name": "task.agent_name"}]}],
                      "default_filter": {"queue": "WQ..."}}}

Every error names where it is: the line and column for bad JSON, the JSON path (task_routing.filters[0]
.targets[1].queue) for a bad value, and the path plus the character position for a bad expression.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..expression import ExpressionError, Predicate, compile_expression

MAX_TARGET_TIMEOUT = 86_400 * 365


class ConfigurationError(ValueError):
    """A Configuration that is not valid; the message says where."""


@dataclass(frozen=True)
class OrderBy:
    path: tuple[str, ...]  # attribute path under worker., e.g. ("level",)
    descending: bool


@dataclass(frozen=True)
class Target:
    queue: str
    expression: Predicate | None = None
    priority: int | None = None
    timeout: int | None = None
    skip_if: Predicate | None = None
    order_by: tuple[OrderBy, ...] = ()
    known_worker_sid: str | None = None  # "task.<attr>" or a literal Worker SID
    known_worker_friendly_name: str | None = None  # "task.<attr>" or a literal name


@dataclass(frozen=True)
class Filter:
    name: str
    expression: Predicate
    targets: tuple[Target, ...]


@dataclass(frozen=True)
class Configuration:
    filters: tuple[Filter, ...]
    default: Target | None

    def queue_sids(self) -> set[str]:
        sids = {target.queue for f in self.filters for target in f.targets}
        if self.default is not None:
            sids.add(self.default.queue)
        return sids

    def targets(self, filter_index: int) -> tuple[Target, ...]:
        """The targets of a filter; -1 is the default_filter (one target, or none)."""
        if filter_index < 0:
            return (self.default,) if self.default is not None else ()
        return self.filters[filter_index].targets


class TaskView(Mapping[str, Any]):
    """A filter expression's view: the task's attributes, also reachable as task.<attr>."""

    __slots__ = ("_attrs",)

    def __init__(self, attrs: Mapping[str, Any]) -> None:
        self._attrs = attrs

    def __getitem__(self, key: str) -> Any:
        if key == "task" and "task" not in self._attrs:
            return self._attrs
        return self._attrs[key]

    def __iter__(self) -> Any:
        return iter(self._attrs)

    def __len__(self) -> int:
        return len(self._attrs)


class TargetView(Mapping[str, Any]):
    """A target expression's view of one worker: bare names and worker.<attr> read the worker, task.<attr>
    the task (a worker attribute named "task" or "worker" loses to the prefix)."""

    __slots__ = ("_task", "_worker")

    def __init__(self, worker: Mapping[str, Any], task: Mapping[str, Any]) -> None:
        self._worker = worker
        self._task = task

    def __getitem__(self, key: str) -> Any:
        if key == "task":
            return self._task
        if key == "worker":
            return self._worker
        return self._worker[key]

    def __iter__(self) -> Any:
        return iter(self._worker)

    def __len__(self) -> int:
        return len(self._worker)


def parse(text: str) -> Configuration:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"Configuration is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno} (char {exc.pos})"
        ) from None
    root = _object(document, "Configuration")
    routing = _object(root.get("task_routing"), "task_routing")
    raw_filters = routing.get("filters", [])
    if not isinstance(raw_filters, list):
        raise ConfigurationError("task_routing.filters must be a JSON array")
    filters = tuple(_filter(raw, f"task_routing.filters[{index}]") for index, raw in enumerate(raw_filters))
    default = None
    if routing.get("default_filter") is not None:
        default = _target(_object(routing["default_filter"], "task_routing.default_filter"),
                          "task_routing.default_filter")
    if not filters and default is None:
        raise ConfigurationError("task_routing needs at least one filter or a default_filter")
    return Configuration(filters=filters, default=default)


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigurationError(f"{where} must be a JSON object")
    return value


def _expression(value: Any, where: str) -> Predicate:
    if not isinstance(value, str):
        raise ConfigurationError(f"{where} must be a string")
    try:
        return compile_expression(value)
    except ExpressionError as exc:
        raise ConfigurationError(f"{where} is not a valid expression: {exc.message}") from None


def _integer(value: Any, where: str, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ConfigurationError(f"{where} must be an integer between {minimum} and {maximum}")
    return value


def _filter(raw: Any, where: str) -> Filter:
    item = _object(raw, where)
    name = item.get("filter_friendly_name", item.get("friendly_name", ""))
    if not isinstance(name, str):
        raise ConfigurationError(f"{where}.filter_friendly_name must be a string")
    if "expression" not in item:
        raise ConfigurationError(f"{where}.expression is required")
    expression = _expression(item["expression"], f"{where}.expression")
    raw_targets = item.get("targets")
    if not isinstance(raw_targets, list) or not raw_targets:
        raise ConfigurationError(f"{where}.targets must be a non-empty JSON array")
    targets = tuple(_target(_object(t, f"{where}.targets[{i}]"), f"{where}.targets[{i}]")
                    for i, t in enumerate(raw_targets))
    return Filter(name=name, expression=expression, targets=targets)


def _order_by(value: Any, where: str) -> tuple[OrderBy, ...]:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{where} must be a string such as 'worker.level DESC'")
    result = []
    for part in value.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].upper() not in ("ASC", "DESC")):
            raise ConfigurationError(f"{where}: {part.strip()!r} must be 'worker.<attribute> [ASC|DESC]'")
        path = words[0].split(".")
        if path[0] != "worker" or len(path) < 2 or not all(path):
            raise ConfigurationError(f"{where}: {words[0]!r} must name a worker attribute (worker.<attribute>)")
        result.append(OrderBy(tuple(path[1:]), len(words) == 2 and words[1].upper() == "DESC"))
    return tuple(result)


def _target(item: dict[str, Any], where: str) -> Target:
    queue = item.get("queue")
    if not isinstance(queue, str) or not queue:
        raise ConfigurationError(f"{where}.queue is required and must be a TaskQueue SID")
    known = {}
    for key in ("known_worker_sid", "known_worker_friendly_name"):
        value = item.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigurationError(f"{where}.{key} must be a non-empty string")
        known[key] = value
    return Target(
        queue=queue,
        expression=_expression(item["expression"], f"{where}.expression") if "expression" in item else None,
        priority=_integer(item["priority"], f"{where}.priority", -(2**31), 2**31 - 1) if "priority" in item else None,
        timeout=_integer(item["timeout"], f"{where}.timeout", 0, MAX_TARGET_TIMEOUT) if "timeout" in item else None,
        skip_if=_expression(item["skip_if"], f"{where}.skip_if") if "skip_if" in item else None,
        order_by=_order_by(item["order_by"], f"{where}.order_by") if "order_by" in item else (),
        known_worker_sid=known["known_worker_sid"],
        known_worker_friendly_name=known["known_worker_friendly_name"],
    )


def resolve_known(value: str | None, task_attrs: Mapping[str, Any]) -> str | None:
    """A known_worker_* value: task.<path> reads the task's attributes; anything else is literal."""
    if value is None:
        return None
    if value.startswith("task."):
        found: Any = task_attrs
        for segment in value[5:].split("."):
            found = found.get(segment) if isinstance(found, dict) else None
        return found if isinstance(found, str) else None
    return value
