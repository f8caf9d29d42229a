"""One workspace and everything in it: its records and the indexes a routing pass reads."""

from __future__ import annotations

from typing import Any

import orjson

from ..event_log import EventLog
from ..expression import Predicate
from ..model import Activity, Reservation, Task, TaskChannel, TaskQueue, Worker, WorkerChannel, Workflow, Workspace
from .workflow_config import Configuration

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


class Space:
    """One workspace and everything in it. Its records are changed only through a Transaction."""

    __slots__ = ("workspace", "activities", "workers", "names", "events", "parsed_attributes", "routing")

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.activities: dict[str, Activity] = {}
        self.workers: dict[str, Worker] = {}
        self.names: dict[str, str] = {}  # casefolded worker friendly_name -> worker sid
        self.events = EventLog()
        self.parsed_attributes: dict[str, dict[str, Any]] = {}  # worker sid -> parsed Attributes, lazily
        self.routing = RoutingSpace()  # task channels, queues, workflows, tasks, reservations

    @property
    def sid(self) -> str:
        return self.workspace.sid

    def worker_view(self, worker: Worker) -> dict[str, Any]:
        """The worker's parsed Attributes (cached until they change); routing expressions read these."""
        parsed = self.parsed_attributes.get(worker.sid)
        if parsed is None:
            parsed = self.parsed_attributes[worker.sid] = orjson.loads(worker.attributes)
        return parsed

    def expression_view(self, worker: Worker, act: Activity) -> dict[str, Any]:
        """What a Workers list's TargetWorkersExpression sees: the attributes plus the worker's own fields."""
        view = dict(self.worker_view(worker))
        view.update(
            sid=worker.sid, friendly_name=worker.friendly_name, activity_sid=act.sid, activity_name=act.friendly_name
        )
        return view

    def queue_members(self, queue_sid: str) -> set[str]:
        """The workers a queue's TargetWorkers matches (built on first use, kept current by worker changes)."""
        rs = self.routing
        members = rs.members.get(queue_sid)
        if members is None:
            predicate = rs.queue_predicates[queue_sid]
            members = rs.members[queue_sid] = {
                worker.sid for worker in self.workers.values() if predicate(self.worker_view(worker))
            }
        return members
