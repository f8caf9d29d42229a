"""One workspace's task-routing records and the indexes a routing pass reads."""

from __future__ import annotations

from typing import Any

from ..expression import Predicate
from ..model import Reservation, Task, TaskChannel, TaskQueue, WorkerChannel, Workflow
from .config import Configuration

ACTIVE_RESERVATION = frozenset({"pending", "accepted", "wrapping"})
WAITING_TASK = frozenset({"pending", "reserved"})
FINAL_TASK = frozenset({"canceled", "completed"})
# TaskRouter deletes a canceled or completed task this long after (task.system-deleted).
FINAL_TASK_KEPT_SECONDS = 300


class RoutingSpace:
    __slots__ = (
        "channel_names",
        "channels",
        "configs",
        "idle_since",
        "load",
        "members",
        "queue_predicates",
        "queues",
        "refused",
        "reservations",
        "step_gen",
        "task_attrs",
        "task_reservations",
        "tasks",
        "waiting",
        "worker_channels",
        "worker_reservations",
        "workflows",
    )

    def __init__(self) -> None:
        self.channels: dict[str, TaskChannel] = {}
        self.channel_names: dict[str, str] = {}  # unique_name -> sid
        self.queues: dict[str, TaskQueue] = {}
        self.queue_predicates: dict[str, Predicate] = {}
        self.members: dict[str, set[str]] = {}  # queue sid -> worker sids matching TargetWorkers (lazily built)
        self.workflows: dict[str, Workflow] = {}
        self.configs: dict[str, Configuration] = {}
        self.tasks: dict[str, Task] = {}
        self.task_attrs: dict[str, dict[str, Any]] = {}
        self.waiting: dict[str, Task] = {}  # pending or reserved tasks sitting in a queue
        self.reservations: dict[str, Reservation] = {}
        self.task_reservations: dict[str, list[str]] = {}
        self.worker_reservations: dict[str, list[str]] = {}
        self.worker_channels: dict[tuple[str, str], WorkerChannel] = {}
        # worker sid -> channel sid -> reservations holding capacity (pending, accepted or wrapping)
        self.load: dict[str, dict[str, int]] = {}
        self.idle_since: dict[str, float] = {}  # when a worker last finished or refused a task
        self.refused: dict[str, set[str]] = {}  # task sid -> workers that rejected it or let it time out
        self.step_gen: dict[str, int] = {}  # task sid -> routing step generation, to spot stale timers

    def held(self, worker_sid: str) -> int:
        return sum(self.load.get(worker_sid, {}).values())

    def active_reservations(self, task_sid: str, status: str | None = None) -> list[Reservation]:
        found = (self.reservations[sid] for sid in self.task_reservations.get(task_sid, ()))
        if status is None:
            return [r for r in found if r.reservation_status in ACTIVE_RESERVATION]
        return [r for r in found if r.reservation_status == status]
