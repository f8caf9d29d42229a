"""The base of the Store's task-routing half: what it needs from state.Store (declared for mypy), the
timers and the virtual clock, and writing routing records to the state file. The routing half is a chain
of mixins: RoutingBase -> ResourcesMixin (channels, queues, workflows, worker channels) -> LifecycleMixin
(tasks, the workflow walk, reservations) -> DispatchMixin (the routing pass) -> store.RoutingStore.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import bad_parameter
from ..model import Activity, Reservation, Task, TaskQueue, Worker
from . import config as wf_config
from . import persist
from .space import FINAL_TASK, WAITING_TASK, RoutingSpace
from .timers import TimerHeap, VirtualClock

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from ..model import Event
from .changes import (
    REASON_TTL,
)


class RoutingBase:
    """Mixed into Store (through RoutingStore); declares the Store members it uses so mypy can check it."""

    if TYPE_CHECKING:
        clock: Callable[[], float]
        _seq: dict[str, int]

        def _space(self, workspace_sid: str) -> Any: ...
        def _change(self) -> AbstractContextManager[None]: ...
        def _record(self, space: Any, event_type: str, resource_type: str, resource_sid: str,
                    description: str, event_data: dict[str, str]) -> Event: ...
        def _assign_seq(self, sid: str) -> int: ...
        def _put(self, kind: str, record: Any, workspace_sid: str | None) -> None: ...
        def _set_worker_activity(self, space: Any, worker: Worker, activity: Activity) -> None: ...
        def _worker_view(self, space: Any, worker: Worker) -> dict[str, Any]: ...
        def create_call(self, events: list[Any], sid: str | None = None) -> Any: ...
        def _delete(self, kind: str, sid: str) -> None: ...
        _state_file: Any

        # Provided by the mixins further down the chain (resources -> lifecycle -> dispatch).
        def _route(self, space: Any) -> None: ...
        def _routing_workspace_created(self, space: Any, now: float, template: str | None) -> None: ...
        def _enter_workflow(self, space: Any, task: Task, now: float) -> None: ...
        def _end_pending(self, space: Any, res: Reservation, status: str, now: float,
                         activity: Activity | None = None) -> None: ...
        def _cancel_task(self, space: Any, task: Task, reason: str, now: float) -> None: ...
        def _step_timeout(self, space: Any, task: Task, now: float) -> None: ...
        def _system_delete(self, space: Any, task: Task, now: float) -> None: ...
        def _free_workers(self, space: Any) -> dict[str, Worker]: ...
        def _candidates(self, space: Any, task: Task, queue: TaskQueue, target: wf_config.Target | None,
                        free: dict[str, Worker]) -> list[str]: ...

    def _init_routing(self) -> None:
        self.timers = TimerHeap()
        self.timer_wakeup: Callable[[], None] | None = None  # set by the app: wakes the real-time timer task
        self._routing_dirty: dict[str, Any] = {}  # sid -> routing record to write at the end of the change

    # ---- persistence (only with a state file) ---------------------------------------------------------

    def _save(self, *records: Any) -> None:
        """Mark records changed; _flush_routing writes their final state when the change commits."""
        if self._state_file is not None:
            for record in records:
                self._routing_dirty[record.sid] = record

    def _flush_routing(self) -> None:
        dirty, self._routing_dirty = self._routing_dirty, {}
        for sid, record in dirty.items():
            if sid in self._seq:  # deleted later in the same change: its delete row wins
                self._put(persist.KIND_OF[type(record)], record, record.workspace_sid)

    def _load_routing(self, space: Any, rows: list[tuple[str, dict[str, Any]]]) -> None:
        persist.rebuild(space.routing, rows, self._schedule)
        if not space.routing.channels:  # a state file from before routing was saved
            self._routing_workspace_created(space, space.workspace.date_created, None)

    # ---- clock and timers -----------------------------------------------------------------------------

    @property
    def virtual_time(self) -> bool:
        return isinstance(self.clock, VirtualClock)

    def set_virtual_clock(self, enabled: bool, start: float | None = None) -> None:
        import time as _time

        self.clock = VirtualClock(start if start is not None else self.clock()) if enabled else _time.time
        if self.timer_wakeup is not None:
            self.timer_wakeup()

    def advance_clock(self, seconds: float) -> int:
        """Virtual time only: move forward, firing every timer due on the way at its own instant, in order."""
        clock = self.clock
        if not isinstance(clock, VirtualClock):
            raise bad_parameter("The clock is real time; enable virtual time before advancing it")
        target = clock.now + seconds
        fired = 0
        while True:
            due = self.timers.next_due()
            if due is None or due > target:
                break
            clock.now = max(clock.now, due)
            fired += self.fire_due_timers()
        clock.now = target
        return fired

    def fire_due_timers(self) -> int:
        fired = 0
        now = self.clock()
        while (timer := self.timers.pop_due(now)) is not None:
            space = self._spaces_get(timer.workspace_sid)
            if space is None:
                continue
            rs: RoutingSpace = space.routing
            with self._change():
                if timer.kind == "reservation":
                    res = rs.reservations.get(timer.sid)
                    if res is not None and res.reservation_status == "pending":
                        self._end_pending(space, res, "timeout", now)
                        fired += 1
                elif timer.kind == "cleanup":
                    task = rs.tasks.get(timer.sid)
                    if task is not None and task.assignment_status in FINAL_TASK:
                        self._system_delete(space, task, now)
                        fired += 1
                else:
                    task = rs.tasks.get(timer.sid)
                    if task is None or task.assignment_status not in WAITING_TASK:
                        continue
                    if timer.kind == "ttl":
                        self._cancel_task(space, task, REASON_TTL, now)
                        fired += 1
                    elif timer.kind == "step" and rs.step_gen.get(task.sid) == timer.generation:
                        self._step_timeout(space, task, now)
                        fired += 1
                self._route(space)
        return fired

    def _spaces_get(self, workspace_sid: str) -> Any:
        return self._spaces.get(workspace_sid)  # type: ignore[attr-defined]

    def _schedule(self, due: float, kind: str, workspace_sid: str, sid: str, generation: int = 0) -> None:
        self.timers.push(due, kind, workspace_sid, sid, generation)
        if self.timer_wakeup is not None:
            self.timer_wakeup()

