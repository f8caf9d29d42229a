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
from typing import Concatenate, ParamSpec, TypeVar

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
    Event,
    Task,
    Worker,
    WorkerChannel,
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


P = ParamSpec("P")
T = TypeVar("T")


def _read(fn: Callable[Concatenate[Space, P], T]) -> Callable[Concatenate[Store, str, P], T]:
    """A Store method that reads one workspace: `store.get_x(workspace_sid, ...)` is `fn(space, ...)`."""

    def method(self: Store, workspace_sid: str, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return fn(self.space(workspace_sid), *args, **kwargs)

    method.__doc__ = fn.__doc__
    return method


def _write(fn: Callable[Concatenate[Transaction, Space, P], T]) -> Callable[Concatenate[Store, str, P], T]:
    """A Store method that changes one workspace: `fn(tx, space, ...)` inside one transaction."""

    def method(self: Store, workspace_sid: str, /, *args: P.args, **kwargs: P.kwargs) -> T:
        space = self.space(workspace_sid)
        with self._tx() as tx:
            return fn(tx, space, *args, **kwargs)

    method.__doc__ = fn.__doc__
    return method


def _change(fn: Callable[Concatenate[Transaction, P], T]) -> Callable[Concatenate[Store, P], T]:
    """A Store method that changes more than one workspace's records (makes a workspace, records a call)."""

    def method(self: Store, /, *args: P.args, **kwargs: P.kwargs) -> T:
        with self._tx() as tx:
            return fn(tx, *args, **kwargs)

    method.__doc__ = fn.__doc__
    return method


class Store:
    """The methods below are the engine's functions, bound to a workspace SID (and a transaction for changes):
    their signatures and docs are those of engine/<resource>.py."""

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

    create_workspace = _change(workspaces.create)

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

    update_workspace = _write(workspaces.update)

    def delete_workspace(self, sid: str) -> None:
        space = self.space(sid)
        with self._tx() as tx:
            workspaces.delete(tx, space)

    create_activity = _write(workspaces.create_activity)
    get_activity = _read(workspaces.get_activity)
    list_activities = _read(workspaces.list_activities)
    update_activity = _write(workspaces.update_activity)
    delete_activity = _write(workspaces.delete_activity)

    # ---- workers --------------------------------------------------------------------------------------

    create_worker = _write(workers.create)
    get_worker = _read(workers.get)
    update_worker = _write(workers.update)
    delete_worker = _write(workers.delete)
    queue_member_sids = _read(workers.queue_member_sids)

    def list_workers(self, workspace_sid: str, filters: WorkerFilters) -> list[tuple[Worker, Activity]]:
        return workers.list_workers(self.space(workspace_sid), filters, self._registry.seq)

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

    create_call = _change(calls.record)

    def get_call(self, account_sid: str, sid: str) -> Call:
        return calls.get(self._registry, account_sid, sid)

    # ---- task channels, queues, workflows -------------------------------------------------------------

    create_task_channel = _write(channels.create)
    get_task_channel = _read(channels.get)
    list_task_channels = _read(channels.list_channels)
    update_task_channel = _write(channels.update)
    delete_task_channel = _write(channels.delete)

    create_task_queue = _write(queues.create)
    get_task_queue = _read(queues.get)
    list_task_queues = _read(queues.list_queues)
    update_task_queue = _write(queues.update)
    delete_task_queue = _write(queues.delete)

    create_workflow = _write(workflows.create)
    get_workflow = _read(workflows.get)
    list_workflows = _read(workflows.list_workflows)
    update_workflow = _write(workflows.update)
    delete_workflow = _write(workflows.delete)

    # ---- worker channels ------------------------------------------------------------------------------

    # Channels made on first sight are written to the state file (if there is one), so reads write too.
    list_worker_channels = _write(channels.list_worker_channels)
    get_worker_channel = _write(channels.get_worker_channel)

    def update_worker_channel(self, workspace_sid: str, worker_sid: str, sid: str, capacity: int | None,
                              available: bool | None) -> tuple[WorkerChannel, int]:
        space = self.space(workspace_sid)
        wc, count = self.get_worker_channel(workspace_sid, worker_sid, sid)  # its own change: a channel seen stays
        with self._tx() as tx:
            return channels.update_worker_channel(tx, space, worker_sid, wc, count, capacity, available)

    # ---- tasks and reservations -----------------------------------------------------------------------

    create_task = _write(tasks.create)
    get_task = _read(tasks.get)
    list_tasks = _read(tasks.list_tasks)
    update_task = _write(tasks.update)
    delete_task = _write(tasks.delete)

    def task_names(self, task: Task) -> tuple[str | None, str | None, str | None]:
        return tasks.names(self.space(task.workspace_sid), task)

    get_reservation = _read(reservations.get)
    list_reservations = _read(reservations.list_reservations)
    update_reservation = _write(reservations.update)

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
