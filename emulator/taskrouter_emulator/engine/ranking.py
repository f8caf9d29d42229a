"""The routing rules that need no store: task order in a queue, and which eligible workers win.

A routing pass (engine/dispatch.py) collects each waiting task's eligible workers in one walk over the
workers that are free right now, so a pass is linear in workers; these functions only order what it found.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..model import Task, TaskQueue
from .workflow_config import OrderBy


def effective_priority(task: Task) -> int:
    return task.target_priority if task.target_priority is not None else task.priority


def queue_order_key(queue: TaskQueue, task: Task) -> tuple[Any, ...]:
    """FIFO: higher priority first, then older first. LIFO: newest first, priority ignored."""
    entered = task.task_queue_entered_date or task.date_created
    if queue.task_order == "LIFO":
        return (-entered, -task.seq)
    return (-effective_priority(task), task.virtual_start_time, task.seq)


def _attribute(attrs: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = attrs
    for segment in path:
        value = value.get(segment) if isinstance(value, Mapping) else None
    return value


def _sortable(value: Any, descending: bool) -> tuple[int, Any]:
    # Missing and non-scalar values sort last in either direction; numbers before strings.
    if isinstance(value, bool) or value is None or not isinstance(value, (int, float, str)):
        return (2, 0)
    if isinstance(value, str):
        return (1, value) if not descending else (1, _Reversed(value))
    return (0, -value if descending else value)


class _Reversed:
    """A string that sorts in reverse, for DESC on a string attribute."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __lt__(self, other: _Reversed) -> bool:
        return self.value > other.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and self.value == other.value


def rank_workers(
    candidates: Sequence[tuple[str, Mapping[str, Any], float, int]], order_by: Sequence[OrderBy]
) -> list[str]:
    """candidates: (worker sid, parsed attributes, idle since, creation seq). With order_by the workers follow
    it (ties: longest idle); without it, the longest-idle worker comes first."""

    def key(item: tuple[str, Mapping[str, Any], float, int]) -> tuple[Any, ...]:
        _, attrs, idle_since, seq = item
        ordered = tuple(_sortable(_attribute(attrs, rule.path), rule.descending) for rule in order_by)
        return (*ordered, idle_since, seq)

    return [sid for sid, *_ in sorted(candidates, key=key)]
