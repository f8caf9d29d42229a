"""The Store: the one door the HTTP routes (and the app's services) use into the engine.

Handlers parse parameters (params.py) and call it; each method finds the workspace, opens a transaction
and hands both to a plain engine module (engine/workers.py, engine/tasks.py, ...). The engine raises
TwilioApiError for anything TaskRouter would refuse, and records an Event for each change; see
engine/transaction.py for the commit rule.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

from . import defaults
from .engine import calls, channels, persist, queues, reservations, tasks, timeouts, workers, workflows, workspaces
from .engine.changes import (
    CALL_INSTRUCTIONS,
    MAX_TASK_TIMEOUT,
    ORDERINGS,
    ReservationChange,
    TaskChange,
    TaskFilters,
    WorkerChange,
    WorkerFilters,
)
from .engine.space import Space
from .engine.timers import TimerHeap, VirtualClock
from .engine.transaction import Listener, Registry, Transaction
from .errors import not_found
from .event_log import EventFilters
from .model import (
    Activity,
    Call,
    CallEvent,
    Event,
    Reservation,
    Task,
    TaskChannel,
    TaskQueue,
    Worker,
    WorkerChannel,
    Workflow,
    Workspace,
)
from .persistence import StateFile

__all__ = [
    "CALL_INSTRUCTIONS",
    "MAX_TASK_TIMEOUT",
    "ORDERINGS",
    "ReservationChange",
    "Store",
    "TaskChange",
    "TaskFilters",
    "WorkerChange",
    "WorkerFilters",
]


class Store:
    def __init__(
        self,
        account_sid: str = defaults.DEFAULT_ACCOUNT_SID,
        default_workspace_sid: str = defaults.DEFAULT_WORKSPACE_SID,
        *,
        state_file: StateFile | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.account_sid = account_sid
        self.default_workspace_sid = default_workspace_sid
        self._registry = registry = Registry(account_sid, clock, state_file)
        self._calls = registry.calls  # the recorded calls; some tests read them directly
        if state_file is not None:
            registry.next_seq = persist.load(state_file, registry.spaces, registry.calls, registry.seq,
                                             registry.schedule)
            with self._tx() as tx:
                for space in registry.spaces.values():
                    if not space.routing.channels:  # a state file from before routing was saved
                        workspaces.add_default_channels(tx, space, space.workspace.date_created)
        if default_workspace_sid not in registry.spaces:
            self.create_workspace(defaults.DEFAULT_WORKSPACE_NAME, sid=default_workspace_sid)

    # ---- plumbing -------------------------------------------------------------------------------------

    def _tx(self) -> AbstractContextManager[Transaction]:
        return self._registry.transaction()

    def space(self, workspace_sid: str) -> Space:
        """One workspace and everything in it (read-only use: the engine changes it in transactions)."""
        return self._registry.space(workspace_sid)

    def add_listener(self, listener: Listener) -> None:
        """`listener(workspace, event)` runs after each recorded event is stored; it must not block."""
        self._registry.listeners.append(listener)

    @property
    def clock(self) -> Callable[[], float]:
        return self._registry.clock

    @clock.setter
    def clock(self, clock: Callable[[], float]) -> None:  # tests install a clock they move by hand
        self._registry.clock = clock

    @property
    def timers(self) -> TimerHeap:
        return self._registry.timers

    @property
    def timer_wakeup(self) -> Callable[[], None] | None:
        return self._registry.timer_wakeup

    @timer_wakeup.setter
    def timer_wakeup(self, wakeup: Callable[[], None] | None) -> None:
        self._registry.timer_wakeup = wakeup

    def sort_key(self, sid: str) -> int:
        return self._registry.seq[sid]

    # ---- clock and timers -----------------------------------------------------------------------------

    @property
    def virtual_time(self) -> bool:
        return isinstance(self.clock, VirtualClock)

    def set_virtual_clock(self, enabled: bool, start: float | None = None) -> None:
        self.clock = VirtualClock(start if start is not None else self.clock()) if enabled else time.time
        if self.timer_wakeup is not None:
            self.timer_wakeup()

    def advance_clock(self, seconds: float) -> int:
        return timeouts.advance(self._registry, seconds)

    def fire_due_timers(self) -> int:
        return timeouts.fire_due(self._registry)

    # ---- workspaces and activities --------------------------------------------------------------------

    def create_workspace(
        self,
        friendly_name: str,
        *,
        event_callback_url: str | None = None,
        events_filter: str | None = None,
        multi_task_enabled: bool = True,
        prioritize_queue_order: str = "FIFO",
        sid: str | None = None,
        template: str | None = None,
    ) -> Workspace:
        with self._tx() as tx:
            return workspaces.create(
                tx, friendly_name, event_callback_url=event_callback_url, events_filter=events_filter,
                multi_task_enabled=multi_task_enabled, prioritize_queue_order=prioritize_queue_order, sid=sid,
                template=template,
            )

    def get_workspace(self, sid: str) -> Workspace:
        return self.space(sid).workspace

    def list_workspaces(self, friendly_name: str | None = None) -> list[Workspace]:
        return [
            space.workspace
            for space in self._registry.spaces.values()
            if friendly_name is None or space.workspace.friendly_name == friendly_name
        ]

    def workspace_activities(self, ws: Workspace) -> tuple[Activity | None, Activity | None]:
        return workspaces.default_and_timeout(self.space(ws.sid))

    def update_workspace(self, sid: str, **changes: Any) -> Workspace:
        space = self.space(sid)
        with self._tx() as tx:
            return workspaces.update(tx, space, **changes)

    def delete_workspace(self, sid: str) -> None:
        space = self.space(sid)
        with self._tx() as tx:
            workspaces.delete(tx, space)

    def create_activity(self, workspace_sid: str, friendly_name: str, available: bool) -> Activity:
        space = self.space(workspace_sid)
        with self._tx() as tx:
            return workspaces.create_activity(tx, space, friendly_name, available)

    def get_activity(self, workspace_sid: str, sid: str) -> Activity:
        return workspaces.get_activity(self.space(workspace_sid), sid)

    def list_activities(
        self, workspace_sid: str, friendly_name: str | None = None, available: bool | None = None
    ) -> list[Activity]:
        return workspaces.list_activities(self.space(workspace_sid), friendly_name, available)

    def update_activity(self, workspace_sid: str, sid: str, friendly_name: str | None) -> Activity:
        space = self.space(workspace_sid)
        with self._tx() as tx:
            return workspaces.update_activity(tx, space, sid, friendly_name)

    def delete_activity(self, workspace_sid: str, sid: str) -> None:
        space = self.space(workspace_sid)
        with self._tx() as tx:
            workspaces.delete_activity(tx, space, sid)

    # ---- workers --------------------------------------------------------------------------------------

    def create_worker(
        self, workspace_sid: str, friendly_name: str, activity_sid: str | None = None, attributes: str | None = None
    ) -> tuple[Worker, Activity]:
        space = self.space(workspace_sid)
        with self._tx() as tx:
            return workers.create(tx, space, friendly_name, activity_sid, attributes)

    def get_worker(self, workspace_sid: str, sid: str) -> tuple[Worker, Activity]:
        return workers.get(self.space(workspace_sid), sid)

    def update_worker(
        self, workspace_sid: str, sid: str, change: WorkerChange, if_match: str | None = None
    ) -> tuple[Worker, Activity]:
        space = self.space(workspace_sid)
        with self._tx() as tx:
            return workers.update(tx, space, sid, change, if_match)

    def delete_worker(self, workspace_sid: str, sid: str, if_match: str | None = None) -> None:
        space = self.space(workspace_sid)
        with self._tx() as tx:
            workers.delete(tx, space, sid, if_match)

    def list_workers(self, workspace_sid: str, filters: WorkerFilters) -> list[tuple[Worker, Activity]]:
        return workers.list_workers(self.space(workspace_sid), filters, self._registry.seq)

    def queue_member_sids(self, workspace_sid: str, queue_sid: str | None, queue_name: str | None) -> set[str]:
        return workers.queue_member_sids(self.space(workspace_sid), queue_sid, queue_name)

    # ---- events ---------------------------------------------------------------------------------------

    def _pruned(self, workspace_sid: str) -> Space:
        space = self.space(workspace_sid)
        with self._tx() as tx:
            tx.prune(space)
        return space

    def get_event(self, workspace_sid: str, sid: str) -> Event:
        event = self._pruned(workspace_sid).events.get(sid)
        if event is None:
            raise not_found()
        return event

    def list_events(self, workspace_sid: str, filters: EventFilters) -> list[Event]:
        return [event for event in self._pruned(workspace_sid).events if filters.matches(event)]

    # ---- calls (Voice Call Events; recorded through the admin API) -------------------------------------

    def create_call(self, events: list[CallEvent], sid: str | None = None) -> Call:
        with self._tx() as tx:
            return calls.record(tx, events, sid)

    def get_call(self, account_sid: str, sid: str) -> Call:
        return calls.get(self._registry, account_sid, sid)

    # ---- task channels, queues, workflows -------------------------------------------------------------

    def create_task_channel(
        self, workspace_sid: str, friendly_name: str, unique_name: str, optimized: bool | None
    ) -> TaskChannel:
        space = self.space(workspace_sid)
        with self._tx() as tx:
            return channels.create(tx, space, friendly_name, unique_name, optimized)

    def get_task_channel(self, workspace_sid: str, sid: str) -> TaskChannel:
        return channels.get(self.space(workspace_sid), sid)

    def list_task_channels(self, workspace_sid: str) -> list[TaskChannel]:
        return list(self.space(workspace_sid).routing.channels.values())

    def update_task_channel(
        self, workspace_sid: str, sid: str, friendly_name: str | None, optimized: bool | None
    ) -> TaskChannel:
        space = self.space(workspace_sid)
        with self._tx() as tx:
            return channels.update(tx, space, sid, friendly_name, optimized)

    def delete_task_channel(self, workspace_sid: str, sid: str) -> None:
        space = self.space(workspace_sid)
        with self._tx() as tx:
            channels.delete(tx, space, sid)

    def create_task_queue(
        self,
        workspace_sid: str,
        friendly_name: str,
        target_workers: str | None = None,
        max_reserved_workers: int | None = None,
        task_order: str | None = None,
        reservation_activity_sid: str | None = None,
        assignment_activity_sid: str | None = None,
    ) -> TaskQueue:
        space = self.space(workspace_sid)
        with self._tx() as tx:
            return queues.create(tx, space, friendly_name, target_workers, max_reserved_workers, task_order,
                                 reservation_activity_sid, assignment_activity_sid)

    def get_task_queue(self, workspace_sid: str, sid: str) -> TaskQueue:
        return queues.get(self.space(workspace_sid), sid)

    def list_task_queues(
        self,
        workspace_sid: str,
        friendly_name: str | None = None,
        worker_attributes: dict[str, Any] | None = None,
        worker_sid: str | None = None,
    ) -> list[TaskQueue]:
        return queues.list_queues(self.space(workspace_sid), friendly_name, worker_attributes, worker_sid)

    def update_task_queue(self, workspace_sid: str, sid: str, **changes: Any) -> TaskQueue:
        space = self.space(workspace_sid)
        with self._tx() as tx:
            return queues.update(tx, space, sid, **changes)

    def delete_task_queue(self, workspace_sid: str, sid: str) -> None:
        space = self.space(workspace_sid)
        with self._tx() as tx:
            queues.delete(tx, space, sid)

    def create_workflow(
        self,
        workspace_sid: str,
        friendly_name: str,
        configuration: str,
        assignment_callback_url: str | None = None,
        fallback_assignment_callback_url: str | None = None,
        task_reservation_timeout: int | None = None,
    ) -> Workflow:
        space = self.space(workspace_sid)
        with self._tx() as tx:
            return workflows.create(tx, space, friendly_name, configuration, assignment_callback_url,
                                    fallback_assignment_callback_url, task_reservation_timeout)

    def get_workflow(self, workspace_sid: str, sid: str) -> Workflow:
        return workflows.get(self.space(workspace_sid), sid)

    def list_workflows(self, workspace_sid: str, friendly_name: str | None = None) -> list[Workflow]:
        return workflows.list_workflows(self.space(workspace_sid), friendly_name)

    def update_workflow(
        self, workspace_sid: str, sid: str, *, re_evaluate_tasks: bool | None = None, **changes: Any
    ) -> Workflow:
        space = self.space(workspace_sid)
        with self._tx() as tx:
            return workflows.update(tx, space, sid, re_evaluate_tasks=re_evaluate_tasks, **changes)

    def delete_workflow(self, workspace_sid: str, sid: str) -> None:
        space = self.space(workspace_sid)
        with self._tx() as tx:
            workflows.delete(tx, space, sid)

    # ---- worker channels ------------------------------------------------------------------------------

    def list_worker_channels(self, workspace_sid: str, worker_sid: str) -> list[tuple[WorkerChannel, int]]:
        space = self.space(workspace_sid)
        with self._tx() as tx:  # channels made on first sight are written to the state file, if there is one
            return channels.list_worker_channels(tx, space, worker_sid)

    def get_worker_channel(self, workspace_sid: str, worker_sid: str, sid: str) -> tuple[WorkerChannel, int]:
        space = self.space(workspace_sid)
        with self._tx() as tx:
            return channels.get_worker_channel(tx, space, worker_sid, sid)

    def update_worker_channel(self, workspace_sid: str, worker_sid: str, sid: str, capacity: int | None,
                              available: bool | None) -> tuple[WorkerChannel, int]:
        space = self.space(workspace_sid)
        wc, count = self.get_worker_channel(workspace_sid, worker_sid, sid)
        with self._tx() as tx:
            return channels.update_worker_channel(tx, space, worker_sid, wc, count, capacity, available)

    # ---- tasks and reservations -----------------------------------------------------------------------

    def create_task(
        self,
        workspace_sid: str,
        *,
        attributes: str | None = None,
        priority: int | None = None,
        timeout: int | None = None,
        task_channel: str | None = None,
        workflow_sid: str | None = None,
        virtual_start_time: float | None = None,
        routing_target: str | None = None,
        ignore_capacity: bool | None = None,
        task_queue_sid: str | None = None,
    ) -> Task:
        space = self.space(workspace_sid)
        with self._tx() as tx:
            return tasks.create(
                tx, space, attributes=attributes, priority=priority, timeout=timeout, task_channel=task_channel,
                workflow_sid=workflow_sid, virtual_start_time=virtual_start_time, routing_target=routing_target,
                ignore_capacity=ignore_capacity, task_queue_sid=task_queue_sid,
            )

    def get_task(self, workspace_sid: str, sid: str) -> Task:
        return tasks.get(self.space(workspace_sid), sid)

    def task_names(self, task: Task) -> tuple[str | None, str | None, str | None]:
        return tasks.names(self.space(task.workspace_sid), task)

    def list_tasks(self, workspace_sid: str, filters: TaskFilters) -> list[Task]:
        return tasks.list_tasks(self.space(workspace_sid), filters)

    def update_task(self, workspace_sid: str, sid: str, change: TaskChange, if_match: str | None = None) -> Task:
        space = self.space(workspace_sid)
        with self._tx() as tx:
            return tasks.update(tx, space, sid, change, if_match)

    def delete_task(self, workspace_sid: str, sid: str, if_match: str | None = None) -> None:
        space = self.space(workspace_sid)
        with self._tx() as tx:
            tasks.delete(tx, space, sid, if_match)

    def get_reservation(self, workspace_sid: str, sid: str, *, task_sid: str | None = None,
                        worker_sid: str | None = None) -> Reservation:
        return reservations.get(self.space(workspace_sid), sid, task_sid=task_sid, worker_sid=worker_sid)

    def list_reservations(self, workspace_sid: str, *, task_sid: str | None = None, worker_sid: str | None = None,
                          status: str | None = None) -> list[Reservation]:
        return reservations.list_reservations(self.space(workspace_sid), task_sid=task_sid, worker_sid=worker_sid,
                                              status=status)

    def update_reservation(self, workspace_sid: str, sid: str, change: ReservationChange, *,
                           task_sid: str | None = None, worker_sid: str | None = None,
                           if_match: str | None = None) -> Reservation:
        space = self.space(workspace_sid)
        with self._tx() as tx:
            return reservations.update(tx, space, sid, change, task_sid=task_sid, worker_sid=worker_sid,
                                       if_match=if_match)

    # ---- sanity ---------------------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Record counts (for admin and tests)."""
        spaces = list(self._spaces())
        return {
            "workspaces": len(spaces),
            "activities": sum(len(s.activities) for s in spaces),
            "workers": sum(len(s.workers) for s in spaces),
            "events": sum(len(s.events) for s in spaces),
            "calls": len(self._registry.calls),
            "task_queues": sum(len(s.routing.queues) for s in spaces),
            "workflows": sum(len(s.routing.workflows) for s in spaces),
            "tasks": sum(len(s.routing.tasks) for s in spaces),
            "reservations": sum(len(s.routing.reservations) for s in spaces),
            "pending_timers": len(self.timers),
        }

    def _spaces(self) -> Iterator[Space]:
        return iter(self._registry.spaces.values())
