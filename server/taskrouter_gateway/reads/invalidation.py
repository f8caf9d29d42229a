"""Which cached answers each TaskRouter event ends, and the writes that end them before their event arrives.

One row per event type of TaskRouter's Events Reference (tests check the table against that catalog). Dropping
more than needed only costs a fetch; dropping less would serve a changed resource, so where an event's effect
is wide (an Activity renamed shows in every Worker) the row is wide. Every row also drops the workspace's
statistics: each of these events moves a count, a duration or an availability figure somewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .cache import ReadCache
from .keys import Tag, where


class Refs(Protocol):
    """The sids an event names (stream.filters.EventRefs has these)."""

    @property
    def resource_sid(self) -> str: ...
    @property
    def worker_sid(self) -> str: ...
    @property
    def task_sid(self) -> str: ...
    @property
    def task_queue_sid(self) -> str: ...
    @property
    def workflow_sid(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Rule:
    resources: tuple[tuple[str, str], ...] = ()  # (collection, Refs attribute): that resource and all under it
    lists: tuple[str, ...] = ()  # collections whose lists (and collection-wide statistics) are dropped
    collections: tuple[str, ...] = ()  # collections dropped whole: every resource, list and sub-resource
    workspace: bool = False  # everything in the workspace, and the list of workspaces

    def tags(self, workspace: str, refs: Callable[[], Refs | None]) -> list[Tag]:
        if self.workspace:
            return [("ws", workspace), ("ws", "")]
        tags: list[Tag] = [("stats", workspace)]
        tags += [("coll", workspace, collection) for collection in self.collections]
        tags += [("list", workspace, collection) for collection in self.lists]
        if self.resources:
            named = refs()
            if named is None:  # the event could not be read: drop the whole collections instead
                tags += [("coll", workspace, collection) for collection, _ in self.resources]
            else:
                for collection, attribute in self.resources:
                    sid = getattr(named, attribute)
                    if sid:
                        tags.append(("res", workspace, collection, sid))
        return tags


WORKER = Rule(resources=(("Workers", "resource_sid"),), lists=("Workers",))
# Task and reservation events change the Task, its Reservations (under the Task and under the Worker) and the
# Worker's channels; a Worker's activity change comes as its own worker event.
TASK = Rule(resources=(("Tasks", "task_sid"), ("Tasks", "resource_sid"), ("Workers", "worker_sid")), lists=("Tasks",))
RESERVATION = Rule(resources=(("Tasks", "task_sid"), ("Workers", "worker_sid")), lists=("Tasks",))
# A queue's expression decides which Workers it targets: Worker lists filtered by TaskQueueSid change.
TASK_QUEUE = Rule(resources=(("TaskQueues", "resource_sid"),), lists=("TaskQueues", "Workers"))
WORKFLOW = Rule(resources=(("Workflows", "resource_sid"),), lists=("Workflows",))
# Routing steps: a Task entering a queue or a workflow target changes the Task (its queue, its age there).
ROUTING = Rule(resources=(("Tasks", "task_sid"),), lists=("Tasks",))
# An Activity's name and availability show in every Worker; a TaskChannel's in every Worker's channels.
ACTIVITY = Rule(collections=("Activities", "Workers"))
TASK_CHANNEL = Rule(collections=("TaskChannels", "Workers"))
WORKSPACE = Rule(workspace=True)

RULES: dict[str, Rule] = {
    "activity.created": ACTIVITY,
    "activity.deleted": ACTIVITY,
    "activity.updated": ACTIVITY,
    "reservation.accepted": RESERVATION,
    "reservation.canceled": RESERVATION,
    "reservation.completed": RESERVATION,
    "reservation.created": RESERVATION,
    "reservation.failed": RESERVATION,
    "reservation.rejected": RESERVATION,
    "reservation.rescinded": RESERVATION,
    "reservation.timeout": RESERVATION,
    "reservation.wrapup": RESERVATION,
    "task-channel.created": TASK_CHANNEL,
    "task-channel.deleted": TASK_CHANNEL,
    "task-channel.updated": TASK_CHANNEL,
    "task-queue.created": TASK_QUEUE,
    "task-queue.deleted": TASK_QUEUE,
    "task-queue.expression.updated": TASK_QUEUE,
    "task-queue.entered": ROUTING,
    "task-queue.moved": ROUTING,
    "task-queue.timeout": ROUTING,
    "task.canceled": TASK,
    "task.completed": TASK,
    "task.created": TASK,
    "task.deleted": TASK,
    "task.system-deleted": TASK,
    "task.transfer-attempt-failed": TASK,
    "task.transfer-canceled": TASK,
    "task.transfer-completed": TASK,
    "task.transfer-failed": TASK,
    "task.transfer-initiated": TASK,
    "task.updated": TASK,
    "task.wrapup": TASK,
    "worker.activity.update": WORKER,
    "worker.attributes.update": WORKER,
    "worker.capacity.update": WORKER,
    "worker.channel.availability.update": WORKER,
    "worker.created": WORKER,
    "worker.deleted": WORKER,
    "workflow.created": WORKFLOW,
    "workflow.deleted": WORKFLOW,
    "workflow.entered": ROUTING,
    "workflow.skipped": ROUTING,
    "workflow.target-matched": ROUTING,
    "workflow.timeout": ROUTING,
    "workflow.updated": WORKFLOW,
    "workspace.created": WORKSPACE,
    "workspace.deleted": WORKSPACE,
    "workspace.updated": WORKSPACE,
}


def event_tags(workspace: str, event_type: str, refs: Callable[[], Refs | None]) -> list[Tag]:
    """The tags an event drops. A type not in the table (TaskRouter added one) drops the whole workspace."""
    return RULES.get(event_type, WORKSPACE).tags(workspace, refs)


def write_tags(path: str) -> list[Tag]:
    """A write through this gateway (a POST or DELETE that succeeded) can move anything in its workspace:
    queue figures, reservations, worker channels. Its events will say exactly what, but until they arrive
    this replica drops the whole workspace, so a caller reads its own write."""
    workspace = where(path)[0]
    return [("ws", workspace), ("ws", "")] if workspace else [("ws", "")]


def apply_event(cache: ReadCache, workspace: str, event_type: str, refs: Callable[[], Refs | None]) -> int:
    if not cache.holds(("ws", workspace)) and not (event_type.startswith("workspace.") and cache.holds(("ws", ""))):
        # Nothing cached there: only fetches in flight can be affected. Marked by whole collections, so the
        # event is not rendered for it.
        cache.drop(event_tags(workspace, event_type, lambda: None))
        return 0
    return cache.drop(event_tags(workspace, event_type, refs))
