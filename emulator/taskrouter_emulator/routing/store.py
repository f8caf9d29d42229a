"""The Store's task-routing half: TaskChannels, TaskQueues, Workflows, Tasks, Reservations, WorkerChannels,
the routing pass and the timers. Mixed into state.Store, whose plumbing (_space, _change, _record, clock)
it uses; the same rule holds: validate first, change after, inside one `_change()`.

Event order within one transition is fixed and documented in docs/routing-events.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from ..errors import NOT_FOUND, PRECONDITION_FAILED, TwilioApiError, bad_parameter
from ..expression import ExpressionError, Predicate, compile_expression
from ..model import Activity, Reservation, Task, TaskChannel, TaskQueue, Worker, WorkerChannel, Workflow
from ..sids import is_sid, new_sid
from . import config as wf_config
from . import engine, persist
from .event_data import (
    reservation_data,
    task_channel_data,
    task_data,
    task_queue_data,
    task_queue_expression_data,
    worker_channel_data,
    workflow_data,
)
from .space import WAITING_TASK, RoutingSpace
from .timers import TimerHeap, VirtualClock

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from ..model import Event

DEFAULT_CHANNELS = (("default", "Default"), ("voice", "Voice"), ("sms", "SMS"), ("chat", "Chat"), ("video", "Video"))
DEFAULT_TASK_TIMEOUT = 86_400
MAX_TASK_TIMEOUT = 2_592_000
REASON_TTL = "Task TTL Exceeded"
REASON_WORKFLOW_TIMEOUT = "Task canceled on Workflow timeout"
REASON_SKIPPED = "Task skipped out of the Workflow"
REASON_NO_FILTER = "Task matched no Workflow filter and the Workflow has no default_filter"


def _not_found(message: str = "") -> TwilioApiError:
    return TwilioApiError(404, NOT_FOUND, message)


def wrong_state(message: str) -> TwilioApiError:
    """An action in the wrong state: Twilio answers 400 with code 20001 and a message naming the states."""
    return bad_parameter(message)


@dataclass
class TaskChange:
    attributes: str | None = None
    assignment_status: str | None = None
    reason: str | None = None
    priority: int | None = None
    task_channel: str | None = None
    virtual_start_time: float | None = None


@dataclass
class ReservationChange:
    reservation_status: str | None = None
    instruction: str | None = None
    worker_activity_sid: str | None = None
    post_work_activity_sid: str | None = None
    instruction_parameters: dict[str, str] | None = None  # every other form field, recorded for call-ish ones


@dataclass(frozen=True)
class TaskFilters:
    priority: int | None = None
    assignment_status: tuple[str, ...] = ()
    workflow_sid: str | None = None
    workflow_name: str | None = None
    task_queue_sid: str | None = None
    task_queue_name: str | None = None
    expression: Predicate | None = None
    routing_target: str | None = None


CALL_INSTRUCTIONS = frozenset({"dequeue", "call", "redirect", "conference"})


class RoutingStore:
    """Mixed into Store; declares the Store members it uses so mypy can check this half on its own."""

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

    # ---- workspace hooks (called by state.Store) ------------------------------------------------------

    def _routing_workspace_created(self, space: Any, now: float, template: str | None) -> None:
        space.routing = RoutingSpace()
        for unique_name, name in DEFAULT_CHANNELS:
            self._add_channel(space, name, unique_name, None, now)
        if template == "FIFO":
            queue = self._add_queue(space, "Sample Queue", "1==1", 1, "FIFO", None, None, now)
            configuration = orjson.dumps(
                {"task_routing": {"filters": [], "default_filter": {"queue": queue.sid}}}
            ).decode()
            self._add_workflow(space, "Default Fifo Workflow", configuration, None, None, 120, now)

    def _worker_changed(self, space: Any, worker: Worker, *, attributes: bool, now: float) -> None:
        rs: RoutingSpace = space.routing
        if attributes:
            view = self._worker_view(space, worker)
            for queue_sid, members in rs.members.items():
                if rs.queue_predicates[queue_sid](view):
                    members.add(worker.sid)
                else:
                    members.discard(worker.sid)
        rs.idle_since.setdefault(worker.sid, now)
        self._route(space)

    def _worker_deleting(self, space: Any, worker: Worker) -> None:
        rs: RoutingSpace = space.routing
        if rs.held(worker.sid):
            raise bad_parameter(
                f"Worker {worker.sid} cannot be deleted while it holds Reservations; complete or reject them first"
            )

    def _worker_deleted(self, space: Any, worker_sid: str) -> None:
        rs: RoutingSpace = space.routing
        for members in rs.members.values():
            members.discard(worker_sid)
        rs.idle_since.pop(worker_sid, None)
        rs.load.pop(worker_sid, None)
        for key in [key for key in rs.worker_channels if key[0] == worker_sid]:
            self._delete("workerchannel", rs.worker_channels.pop(key).sid)

    def _reject_pending_of_worker(self, space: Any, worker: Worker, now: float) -> None:
        rs: RoutingSpace = space.routing
        for sid in list(rs.worker_reservations.get(worker.sid, ())):
            res = rs.reservations[sid]
            if res.reservation_status == "pending":
                self._end_pending(space, res, "rejected", now)

    # ---- task channels --------------------------------------------------------------------------------

    def _add_channel(
        self, space: Any, name: str, unique_name: str, optimized: bool | None, now: float
    ) -> TaskChannel:
        ws = space.workspace
        channel = TaskChannel(new_sid("TC"), ws.account_sid, ws.sid, name, unique_name, optimized, now, now)
        space.routing.channels[channel.sid] = channel
        space.routing.channel_names[unique_name] = channel.sid
        self._assign_seq(channel.sid)
        self._save(channel)
        return channel

    def create_task_channel(
        self, workspace_sid: str, friendly_name: str, unique_name: str, optimized: bool | None
    ) -> TaskChannel:
        space = self._space(workspace_sid)
        if unique_name in space.routing.channel_names:
            raise bad_parameter(f"A TaskChannel with UniqueName {unique_name!r} already exists in {workspace_sid}")
        with self._change():
            channel = self._add_channel(space, friendly_name, unique_name, optimized, self.clock())
            self._record(space, "task-channel.created", "taskchannel", channel.sid,
                         f"TaskChannel {unique_name} created", task_channel_data(channel))
        return channel

    def get_task_channel(self, workspace_sid: str, sid: str) -> TaskChannel:
        rs: RoutingSpace = self._space(workspace_sid).routing
        channel = rs.channels.get(sid) or rs.channels.get(rs.channel_names.get(sid, ""))
        if channel is None:
            raise _not_found()
        return channel

    def list_task_channels(self, workspace_sid: str) -> list[TaskChannel]:
        return list(self._space(workspace_sid).routing.channels.values())

    def update_task_channel(
        self, workspace_sid: str, sid: str, friendly_name: str | None, optimized: bool | None
    ) -> TaskChannel:
        space = self._space(workspace_sid)
        channel = self.get_task_channel(workspace_sid, sid)
        if friendly_name is None and optimized is None:
            return channel
        with self._change():
            if friendly_name is not None:
                channel.friendly_name = friendly_name
            if optimized is not None:
                channel.channel_optimized_routing = optimized
            channel.date_updated = self.clock()
            self._save(channel)
            self._record(space, "task-channel.updated", "taskchannel", channel.sid,
                         f"TaskChannel {channel.unique_name} updated", task_channel_data(channel))
        return channel

    def delete_task_channel(self, workspace_sid: str, sid: str) -> None:
        space = self._space(workspace_sid)
        rs: RoutingSpace = space.routing
        channel = self.get_task_channel(workspace_sid, sid)
        if any(t.task_channel_sid == channel.sid and t.assignment_status not in ("canceled", "completed")
               for t in rs.tasks.values()):
            raise bad_parameter(f"TaskChannel {channel.sid} cannot be deleted while active Tasks use it")
        with self._change():
            del rs.channels[channel.sid]
            del rs.channel_names[channel.unique_name]
            for key in [key for key in rs.worker_channels if key[1] == channel.sid]:
                self._delete("workerchannel", rs.worker_channels.pop(key).sid)
            self._delete("taskchannel", channel.sid)
            self._record(space, "task-channel.deleted", "taskchannel", channel.sid,
                         f"TaskChannel {channel.unique_name} deleted", task_channel_data(channel))

    # ---- task queues ----------------------------------------------------------------------------------

    @staticmethod
    def _compile_target_workers(text: str) -> Predicate:
        try:
            return compile_expression(text)
        except ExpressionError as exc:  # its message carries the position
            raise bad_parameter(f"Invalid TargetWorkers expression: {exc.message}") from None

    def _activity_sid_param(self, space: Any, name: str, sid: str | None) -> None:
        if sid is not None and sid not in space.activities:
            raise bad_parameter(f"{name} {sid} is not an Activity in Workspace {space.workspace.sid}")

    def _add_queue(
        self,
        space: Any,
        name: str,
        target_workers: str,
        max_reserved: int,
        task_order: str,
        reservation_activity_sid: str | None,
        assignment_activity_sid: str | None,
        now: float,
    ) -> TaskQueue:
        ws = space.workspace
        queue = TaskQueue(
            new_sid("WQ"), ws.account_sid, ws.sid, name, target_workers, max_reserved, task_order,
            reservation_activity_sid, assignment_activity_sid, now, now,
        )
        rs: RoutingSpace = space.routing
        rs.queues[queue.sid] = queue
        rs.queue_predicates[queue.sid] = self._compile_target_workers(target_workers)
        self._assign_seq(queue.sid)
        self._save(queue)
        self._record(space, "task-queue.created", "taskqueue", queue.sid,
                     f"TaskQueue {queue.friendly_name} created", task_queue_data(queue, created=True))
        return queue

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
        space = self._space(workspace_sid)
        self._compile_target_workers(target_workers or "1==1")
        self._activity_sid_param(space, "ReservationActivitySid", reservation_activity_sid)
        self._activity_sid_param(space, "AssignmentActivitySid", assignment_activity_sid)
        if any(q.friendly_name == friendly_name for q in space.routing.queues.values()):
            raise bad_parameter(f"A TaskQueue named {friendly_name!r} already exists in Workspace {workspace_sid}")
        with self._change():
            queue = self._add_queue(
                space, friendly_name, target_workers or "1==1", max_reserved_workers or 1, task_order or "FIFO",
                reservation_activity_sid, assignment_activity_sid, self.clock(),
            )
        return queue

    def get_task_queue(self, workspace_sid: str, sid: str) -> TaskQueue:
        queue = self._space(workspace_sid).routing.queues.get(sid)
        if queue is None:
            raise _not_found()
        return queue

    def queue_members(self, space: Any, queue_sid: str) -> set[str]:
        rs: RoutingSpace = space.routing
        members = rs.members.get(queue_sid)
        if members is None:
            predicate = rs.queue_predicates[queue_sid]
            members = rs.members[queue_sid] = {
                worker.sid for worker in space.workers.values() if predicate(self._worker_view(space, worker))
            }
        return members

    def queue_member_sids(self, workspace_sid: str, queue_sid: str | None, queue_name: str | None) -> set[str]:
        """The Workers list's TaskQueueSid/TaskQueueName filters: the workers the queue targets."""
        space = self._space(workspace_sid)
        rs: RoutingSpace = space.routing
        if queue_sid is not None:
            if queue_sid not in rs.queues:
                raise _not_found(f"TaskQueue {queue_sid} was not found in Workspace {workspace_sid}")
            return set(self.queue_members(space, queue_sid))
        found: set[str] = set()
        for queue in rs.queues.values():
            if queue.friendly_name == queue_name:
                found |= self.queue_members(space, queue.sid)
        return found

    def list_task_queues(
        self,
        workspace_sid: str,
        friendly_name: str | None = None,
        worker_attributes: dict[str, Any] | None = None,
        worker_sid: str | None = None,
    ) -> list[TaskQueue]:
        space = self._space(workspace_sid)
        rs: RoutingSpace = space.routing
        worker = None
        if worker_sid is not None:
            worker = space.workers.get(worker_sid)
            if worker is None:
                raise _not_found(f"Worker {worker_sid} was not found in Workspace {workspace_sid}")
        result = []
        for queue in rs.queues.values():
            if friendly_name is not None and queue.friendly_name != friendly_name:
                continue
            if worker_attributes is not None and not rs.queue_predicates[queue.sid](worker_attributes):
                continue
            if worker is not None and worker.sid not in self.queue_members(space, queue.sid):
                continue
            result.append(queue)
        return result

    def update_task_queue(self, workspace_sid: str, sid: str, **changes: Any) -> TaskQueue:
        """changes: friendly_name, target_workers, reservation_activity_sid, assignment_activity_sid,
        max_reserved_workers, task_order (None leaves a field as it is)."""
        space = self._space(workspace_sid)
        rs: RoutingSpace = space.routing
        queue = self.get_task_queue(workspace_sid, sid)
        target = changes.get("target_workers")
        predicate = self._compile_target_workers(target) if target is not None else None
        self._activity_sid_param(space, "ReservationActivitySid", changes.get("reservation_activity_sid"))
        self._activity_sid_param(space, "AssignmentActivitySid", changes.get("assignment_activity_sid"))
        name = changes.get("friendly_name")
        if name is not None and any(q.friendly_name == name and q.sid != sid for q in rs.queues.values()):
            raise bad_parameter(f"A TaskQueue named {name!r} already exists in Workspace {workspace_sid}")
        with self._change():
            for key, value in changes.items():
                if value is not None:
                    setattr(queue, key, value)
            queue.date_updated = self.clock()
            self._save(queue)
            if predicate is not None and target != "":
                rs.queue_predicates[sid] = predicate
                rs.members.pop(sid, None)
                self._record(space, "task-queue.expression.updated", "taskqueue", sid,
                             f"TaskQueue {queue.friendly_name} expression updated", task_queue_expression_data(queue))
            self._route(space)
        return queue

    def delete_task_queue(self, workspace_sid: str, sid: str) -> None:
        space = self._space(workspace_sid)
        rs: RoutingSpace = space.routing
        queue = self.get_task_queue(workspace_sid, sid)
        users = [wf.sid for wf in rs.workflows.values() if sid in rs.configs[wf.sid].queue_sids()]
        if users:
            raise bad_parameter(f"TaskQueue {sid} cannot be deleted: Workflow(s) {', '.join(users)} route to it")
        if any(task.task_queue_sid == sid for task in rs.waiting.values()):
            raise bad_parameter(f"TaskQueue {sid} cannot be deleted while Tasks wait in it")
        with self._change():
            del rs.queues[sid]
            rs.queue_predicates.pop(sid, None)
            rs.members.pop(sid, None)
            self._delete("taskqueue", sid)
            self._record(space, "task-queue.deleted", "taskqueue", sid,
                         f"TaskQueue {queue.friendly_name} deleted", task_queue_data(queue))

    # ---- workflows ------------------------------------------------------------------------------------

    def _parse_configuration(self, space: Any, text: str) -> wf_config.Configuration:
        try:
            parsed = wf_config.parse(text)
        except wf_config.ConfigurationError as exc:
            raise bad_parameter(f"Invalid Configuration: {exc}") from None
        missing = sorted(sid for sid in parsed.queue_sids() if sid not in space.routing.queues)
        if missing:
            raise bad_parameter(
                f"Invalid Configuration: TaskQueue(s) {', '.join(missing)} not found in Workspace {space.workspace.sid}"
            )
        return parsed

    def _add_workflow(
        self,
        space: Any,
        name: str,
        configuration: str,
        callback_url: str | None,
        fallback_url: str | None,
        reservation_timeout: int,
        now: float,
    ) -> Workflow:
        parsed = self._parse_configuration(space, configuration)
        ws = space.workspace
        workflow = Workflow(new_sid("WW"), ws.account_sid, ws.sid, name, configuration, callback_url or None,
                            fallback_url or None, reservation_timeout, now, now)
        space.routing.workflows[workflow.sid] = workflow
        space.routing.configs[workflow.sid] = parsed
        self._assign_seq(workflow.sid)
        self._save(workflow)
        self._record(space, "workflow.created", "workflow", workflow.sid,
                     f"Workflow {name} created", workflow_data(workflow))
        return workflow

    def create_workflow(
        self,
        workspace_sid: str,
        friendly_name: str,
        configuration: str,
        assignment_callback_url: str | None = None,
        fallback_assignment_callback_url: str | None = None,
        task_reservation_timeout: int | None = None,
    ) -> Workflow:
        space = self._space(workspace_sid)
        self._parse_configuration(space, configuration)
        with self._change():
            workflow = self._add_workflow(
                space, friendly_name, configuration, assignment_callback_url, fallback_assignment_callback_url,
                task_reservation_timeout or 120, self.clock(),
            )
        return workflow

    def get_workflow(self, workspace_sid: str, sid: str) -> Workflow:
        workflow = self._space(workspace_sid).routing.workflows.get(sid)
        if workflow is None:
            raise _not_found()
        return workflow

    def list_workflows(self, workspace_sid: str, friendly_name: str | None = None) -> list[Workflow]:
        return [
            wf for wf in self._space(workspace_sid).routing.workflows.values()
            if friendly_name is None or wf.friendly_name == friendly_name
        ]

    def update_workflow(
        self, workspace_sid: str, sid: str, *, re_evaluate_tasks: bool | None = None, **changes: Any
    ) -> Workflow:
        """changes: friendly_name, configuration, assignment_callback_url, fallback_assignment_callback_url
        ("" clears these two), task_reservation_timeout."""
        space = self._space(workspace_sid)
        rs: RoutingSpace = space.routing
        workflow = self.get_workflow(workspace_sid, sid)
        parsed = self._parse_configuration(space, changes["configuration"]) if changes.get("configuration") else None
        now = self.clock()
        with self._change():
            for key, value in changes.items():
                if value is not None:
                    setattr(workflow, key, value or None if key.endswith("_url") else value)
            if parsed is not None:
                rs.configs[sid] = parsed
            workflow.date_updated = now
            self._save(workflow)
            self._record(space, "workflow.updated", "workflow", sid,
                         f"Workflow {workflow.friendly_name} updated", workflow_data(workflow))
            if re_evaluate_tasks or parsed is not None:
                # A new configuration routes waiting tasks afresh; tasks with a pending reservation keep it.
                for task in list(rs.waiting.values()):
                    if task.workflow_sid == sid and task.routing_target is None and not rs.active_reservations(task.sid):
                        self._enter_workflow(space, task, now)
            self._route(space)
        return workflow

    def delete_workflow(self, workspace_sid: str, sid: str) -> None:
        space = self._space(workspace_sid)
        rs: RoutingSpace = space.routing
        workflow = self.get_workflow(workspace_sid, sid)
        if any(t.workflow_sid == sid and t.assignment_status in ("pending", "reserved", "assigned", "wrapping")
               for t in rs.tasks.values()):
            raise bad_parameter(f"Workflow {sid} cannot be deleted while it has active Tasks")
        with self._change():
            del rs.workflows[sid]
            del rs.configs[sid]
            self._delete("workflow", sid)
            self._record(space, "workflow.deleted", "workflow", sid,
                         f"Workflow {workflow.friendly_name} deleted", workflow_data(workflow))

    # ---- tasks ----------------------------------------------------------------------------------------

    def _channel_param(self, space: Any, value: str | None) -> TaskChannel:
        rs: RoutingSpace = space.routing
        key = value or "default"
        channel = rs.channels.get(key) or rs.channels.get(rs.channel_names.get(key, ""))
        if channel is None:
            raise bad_parameter(f"TaskChannel {key!r} is not a TaskChannel SID or unique name in this Workspace")
        return channel

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
        space = self._space(workspace_sid)
        rs: RoutingSpace = space.routing
        channel = self._channel_param(space, task_channel)
        if workflow_sid is not None and workflow_sid not in rs.workflows:
            raise bad_parameter(f"WorkflowSid {workflow_sid} is not a Workflow in Workspace {workspace_sid}")
        if task_queue_sid is not None and task_queue_sid not in rs.queues:
            raise bad_parameter(f"TaskQueueSid {task_queue_sid} is not a TaskQueue in Workspace {workspace_sid}")
        if routing_target is not None:
            if routing_target not in space.workers:
                raise bad_parameter(f"RoutingTarget {routing_target} is not a Worker in Workspace {workspace_sid}")
            if task_queue_sid is None and workflow_sid is None:
                raise bad_parameter("RoutingTarget needs a TaskQueueSid or a WorkflowSid")
        elif workflow_sid is None:
            if len(rs.workflows) != 1:
                raise bad_parameter("Missing required parameter WorkflowSid in the post body")
            workflow_sid = next(iter(rs.workflows))
        now = self.clock()
        attrs = attributes if attributes is not None else "{}"
        ws = space.workspace
        task = Task(
            sid=new_sid("WT"),
            account_sid=ws.account_sid,
            workspace_sid=ws.sid,
            attributes=attrs,
            priority=priority or 0,
            timeout=timeout or DEFAULT_TASK_TIMEOUT,
            task_channel_sid=channel.sid,
            workflow_sid=workflow_sid,
            routing_target=routing_target,
            ignore_capacity=bool(ignore_capacity),
            date_created=now,
            date_updated=now,
            virtual_start_time=virtual_start_time if virtual_start_time is not None else now,
        )
        with self._change():
            rs.tasks[task.sid] = task
            rs.task_attrs[task.sid] = orjson.loads(attrs)
            task.seq = self._assign_seq(task.sid)
            self._save(task)
            self._record(space, "task.created", "task", task.sid, f"Task {task.sid} created",
                         task_data(task, now, queue=False))
            self._schedule(now + task.timeout, "ttl", ws.sid, task.sid)
            if routing_target is not None:
                queue_sid = task_queue_sid or self._first_queue(rs, workflow_sid)
                self._enter_queue(space, task, queue_sid, None, now)
            else:
                self._enter_workflow(space, task, now)
            self._route(space)
        return task

    @staticmethod
    def _first_queue(rs: RoutingSpace, workflow_sid: str | None) -> str:
        configuration = rs.configs[workflow_sid or ""]
        for filter_index in (*range(len(configuration.filters)), -1):
            for target in configuration.targets(filter_index):
                return target.queue
        raise bad_parameter("The Workflow has no target queue for the RoutingTarget")  # unreachable: parse checks

    def get_task(self, workspace_sid: str, sid: str) -> Task:
        task = self._space(workspace_sid).routing.tasks.get(sid)
        if task is None:
            raise _not_found()
        return task

    def task_names(self, task: Task) -> tuple[str | None, str | None, str | None]:
        """The task's queue name, workflow name and channel unique name, for rendering."""
        rs: RoutingSpace = self._space(task.workspace_sid).routing
        queue = rs.queues.get(task.task_queue_sid or "")
        workflow = rs.workflows.get(task.workflow_sid or "")
        channel = rs.channels.get(task.task_channel_sid)
        return (
            queue.friendly_name if queue else None,
            workflow.friendly_name if workflow else None,
            channel.unique_name if channel else None,
        )

    def list_tasks(self, workspace_sid: str, filters: TaskFilters) -> list[Task]:
        rs: RoutingSpace = self._space(workspace_sid).routing
        result = []
        for task in rs.tasks.values():
            if filters.priority is not None and task.priority != filters.priority:
                continue
            if filters.assignment_status and task.assignment_status not in filters.assignment_status:
                continue
            if filters.workflow_sid is not None and task.workflow_sid != filters.workflow_sid:
                continue
            if filters.workflow_name is not None:
                workflow = rs.workflows.get(task.workflow_sid or "")
                if workflow is None or workflow.friendly_name != filters.workflow_name:
                    continue
            if filters.task_queue_sid is not None and task.task_queue_sid != filters.task_queue_sid:
                continue
            if filters.task_queue_name is not None:
                queue = rs.queues.get(task.task_queue_sid or "")
                if queue is None or queue.friendly_name != filters.task_queue_name:
                    continue
            if filters.routing_target is not None and task.routing_target != filters.routing_target:
                continue
            if filters.expression is not None and not filters.expression(rs.task_attrs[task.sid]):
                continue
            result.append(task)
        return result  # in creation order; the handler sorts by Ordering (it pages by the same key)

    def _check_etag(self, task: Task, if_match: str | None) -> None:
        from ..state import etag_matches

        if not etag_matches(if_match, task.version):
            raise TwilioApiError(
                412, PRECONDITION_FAILED,
                f'If-Match {if_match} does not match the current version of Task {task.sid} (ETag "{task.version}")',
            )

    def update_task(self, workspace_sid: str, sid: str, change: TaskChange, if_match: str | None = None) -> Task:
        space = self._space(workspace_sid)
        rs: RoutingSpace = space.routing
        task = self.get_task(workspace_sid, sid)
        self._check_etag(task, if_match)
        channel = self._channel_param(space, change.task_channel) if change.task_channel is not None else None
        status = change.assignment_status
        ws = space.workspace
        where = f"task {sid} in workspace {ws.sid} for account {ws.account_sid}"
        if status == "canceled" and task.assignment_status not in WAITING_TASK:
            raise wrong_state(f"Cannot cancel {where} because it is not pending or reserved")
        if status == "wrapping" and task.assignment_status != "assigned":
            raise wrong_state(f"Cannot wrap up {where} because it is not assigned")
        if status == "completed" and task.assignment_status not in ("assigned", "wrapping"):
            raise wrong_state(f"Cannot complete {where} because it is not assigned or wrapping")
        now = self.clock()
        with self._change():
            changed = False
            if change.attributes is not None and change.attributes != task.attributes:
                task.attributes = change.attributes
                rs.task_attrs[sid] = orjson.loads(change.attributes)
                changed = True
            if change.priority is not None and change.priority != engine.effective_priority(task):
                task.priority = change.priority
                task.target_priority = None  # an explicit priority outranks the target's set-priority
                changed = True
            if channel is not None and channel.sid != task.task_channel_sid:
                task.task_channel_sid = channel.sid
                changed = True
            if change.virtual_start_time is not None:
                task.virtual_start_time = change.virtual_start_time
                changed = True
            if changed or status is not None:
                task.version += 1
                task.date_updated = now
                self._save(task)
            if changed:
                self._record(space, "task.updated", "task", sid, f"Task {sid} updated", task_data(task, now))
                if (change.attributes is not None and task.assignment_status == "pending"
                        and task.routing_target is None and sid in rs.waiting):
                    self._enter_workflow(space, task, now)  # new attributes may match another filter
            if status == "canceled":
                self._cancel_task(space, task, change.reason or "", now)
            elif status == "wrapping":
                (res,) = rs.active_reservations(sid, "accepted")
                self._wrapup(space, task, res, now)
            elif status == "completed":
                (res,) = rs.active_reservations(sid)
                self._complete(space, task, res, change.reason or "", now)
            self._route(space)
        return task

    def delete_task(self, workspace_sid: str, sid: str, if_match: str | None = None) -> None:
        space = self._space(workspace_sid)
        rs: RoutingSpace = space.routing
        task = self.get_task(workspace_sid, sid)
        self._check_etag(task, if_match)
        now = self.clock()
        with self._change():
            for res in rs.active_reservations(sid):
                self._release(rs, res)
                res.reservation_status = "canceled"
            rs.waiting.pop(sid, None)
            del rs.tasks[sid]
            rs.task_attrs.pop(sid, None)
            rs.refused.pop(sid, None)
            rs.step_gen.pop(sid, None)
            for res_sid in rs.task_reservations.pop(sid, ()):
                res = rs.reservations.pop(res_sid)
                rs.worker_reservations.get(res.worker_sid, []).remove(res_sid)
                self._delete("reservation", res_sid)
            self._delete("task", sid)
            self._record(space, "task.deleted", "task", sid, f"Task {sid} deleted", task_data(task, now))
            self._route(space)

    # ---- the workflow walk ----------------------------------------------------------------------------

    def _enter_workflow(self, space: Any, task: Task, now: float) -> None:
        rs: RoutingSpace = space.routing
        configuration = rs.configs[task.workflow_sid or ""]
        workflow = rs.workflows[task.workflow_sid or ""]
        self._bump_step(rs, task)
        self._save(task)
        task.workflow_entered = now
        self._record(space, "workflow.entered", "task", task.sid,
                     f"Task {task.sid} entered Workflow {workflow.friendly_name}", self._workflow_task_data(task, now))
        view = wf_config.TaskView(rs.task_attrs[task.sid])
        task.filter_index = -1
        for index, flt in enumerate(configuration.filters):
            if flt.expression(view):
                task.filter_index = index
                break
        if task.filter_index < 0 and configuration.default is None:
            self._cancel_task(space, task, REASON_NO_FILTER, now)
            return
        task.target_index = 0
        self._enter_target(space, task, now)

    def _workflow_task_data(self, task: Task, now: float) -> dict[str, str]:
        return task_data(task, now, queue=False)

    def _bump_step(self, rs: RoutingSpace, task: Task) -> int:
        generation = rs.step_gen.get(task.sid, 0) + 1
        rs.step_gen[task.sid] = generation
        return generation

    def _available_for_target(self, space: Any, task: Task, queue_sid: str, target: wf_config.Target) -> int:
        return len(self._candidates(space, task, space.routing.queues[queue_sid], target, self._free_workers(space)))

    def _enter_target(self, space: Any, task: Task, now: float) -> None:
        rs: RoutingSpace = space.routing
        targets = rs.configs[task.workflow_sid or ""].targets(task.filter_index)
        previous_queue = task.task_queue_sid
        while task.target_index < len(targets):
            target = targets[task.target_index]
            last = task.target_index == len(targets) - 1
            if target.timeout is not None and now - task.workflow_entered >= target.timeout:
                task.target_index += 1
                continue
            if target.skip_if is not None:
                available = self._available_for_target(space, task, target.queue, target)
                if target.skip_if({"workers": {"available": available}}):
                    if last:
                        self._record(space, "workflow.skipped", "task", task.sid,
                                     f"Task {task.sid} skipped out of the Workflow", self._workflow_task_data(task, now))
                        self._cancel_task(space, task, REASON_SKIPPED, now)
                        return
                    task.target_index += 1
                    continue
            task.target_priority = target.priority
            self._record(space, "workflow.target-matched", "task", task.sid,
                         f"Task {task.sid} matched a Workflow target", self._workflow_task_data(task, now))
            self._enter_queue(space, task, target.queue, previous_queue, now)
            if target.timeout is not None:
                self._schedule(task.workflow_entered + target.timeout, "step", task.workspace_sid, task.sid,
                               rs.step_gen[task.sid])
            return
        self._record(space, "workflow.timeout", "task", task.sid,
                     f"Task {task.sid} reached the end of its Workflow", self._workflow_task_data(task, now))
        self._cancel_task(space, task, REASON_WORKFLOW_TIMEOUT, now)

    def _enter_queue(self, space: Any, task: Task, queue_sid: str, previous: str | None, now: float) -> None:
        rs: RoutingSpace = space.routing
        queue = rs.queues[queue_sid]
        if previous is not None and previous != queue_sid:
            self._record(space, "task-queue.moved", "task", task.sid,
                         f"Task {task.sid} moved to TaskQueue {queue.friendly_name}", task_data(task, now))
        task.task_queue_sid = queue_sid
        task.task_queue_entered_date = now
        self._save(task)
        rs.waiting[task.sid] = task
        self._record(space, "task-queue.entered", "task", task.sid,
                     f"Task {task.sid} entered TaskQueue {queue.friendly_name}", task_data(task, now))

    def _step_timeout(self, space: Any, task: Task, now: float) -> None:
        rs: RoutingSpace = space.routing
        self._record(space, "task-queue.timeout", "task", task.sid,
                     f"Task {task.sid} timed out of TaskQueue", task_data(task, now))
        for res in rs.active_reservations(task.sid, "pending"):
            self._finish_reservation(space, task, res, "canceled", now)
        task.assignment_status = "pending"
        self._bump_step(rs, task)
        self._save(task)
        task.target_index += 1
        self._enter_target(space, task, now)

    # ---- reservations ---------------------------------------------------------------------------------

    def _release(self, rs: RoutingSpace, res: Reservation) -> None:
        channels = rs.load.get(res.worker_sid)
        if channels is not None and channels.get(res.task_channel_sid, 0) > 0:
            channels[res.task_channel_sid] -= 1

    def _reservation_event(self, space: Any, event_type: str, task: Task, res: Reservation, now: float,
                           description: str) -> None:
        worker = space.workers.get(res.worker_sid)
        activity = space.activities.get(worker.activity_sid) if worker is not None else None
        self._record(space, event_type, "reservation", res.sid, description,
                     reservation_data(task, res, worker, activity, now))

    def _reserve(self, space: Any, task: Task, worker: Worker, queue: TaskQueue, now: float) -> Reservation:
        rs: RoutingSpace = space.routing
        workflow = rs.workflows.get(task.workflow_sid or "")
        ws = space.workspace
        res = Reservation(
            sid=new_sid("WR"),
            account_sid=ws.account_sid,
            workspace_sid=ws.sid,
            task_sid=task.sid,
            worker_sid=worker.sid,
            worker_name=worker.friendly_name,
            task_queue_sid=queue.sid,
            workflow_sid=task.workflow_sid,
            task_channel_sid=task.task_channel_sid,
            timeout=workflow.task_reservation_timeout if workflow is not None else 120,
            date_created=now,
            date_updated=now,
        )
        rs.reservations[res.sid] = res
        rs.task_reservations.setdefault(task.sid, []).append(res.sid)
        rs.worker_reservations.setdefault(worker.sid, []).append(res.sid)
        channels = rs.load.setdefault(worker.sid, {})
        channels[task.task_channel_sid] = channels.get(task.task_channel_sid, 0) + 1
        self._assign_seq(res.sid)
        task.assignment_status = "reserved"
        self._save(task, res)
        self._reservation_event(space, "reservation.created", task, res, now,
                                f"Reservation {res.sid} created for Task {task.sid}")
        if not ws.multi_task_enabled and queue.reservation_activity_sid:
            self._set_worker_activity(space, worker, space.activities[queue.reservation_activity_sid])
        self._schedule(now + res.timeout, "reservation", ws.sid, res.sid)
        return res

    def _finish_reservation(self, space: Any, task: Task, res: Reservation, status: str, now: float) -> None:
        """A pending or active reservation ends (rejected, timeout, canceled, rescinded, completed)."""
        rs: RoutingSpace = space.routing
        self._release(rs, res)
        res.reservation_status = status
        res.date_updated = now
        rs.idle_since[res.worker_sid] = now
        self._save(task, res)
        verb = {"timeout": "timed out"}.get(status, status)
        self._reservation_event(space, f"reservation.{status}", task, res, now, f"Reservation {res.sid} {verb}")

    def _end_pending(self, space: Any, res: Reservation, status: str, now: float,
                     activity: Activity | None = None) -> None:
        """rejected or timeout: the task waits again (unless other reservations are still out)."""
        rs: RoutingSpace = space.routing
        task = rs.tasks[res.task_sid]
        rs.refused.setdefault(task.sid, set()).add(res.worker_sid)
        if not [r for r in rs.active_reservations(task.sid, "pending") if r.sid != res.sid]:
            task.assignment_status = "pending"
        self._finish_reservation(space, task, res, status, now)
        worker = space.workers.get(res.worker_sid)
        if worker is None:
            return
        if status == "timeout":
            activity = space.activities.get(space.workspace.timeout_activity_sid or "")
        if activity is not None and activity.sid != worker.activity_sid:
            self._set_worker_activity(space, worker, activity)

    def _cancel_task(self, space: Any, task: Task, reason: str, now: float) -> None:
        rs: RoutingSpace = space.routing
        for res in rs.active_reservations(task.sid, "pending"):
            self._finish_reservation(space, task, res, "canceled", now)
        rs.waiting.pop(task.sid, None)
        self._bump_step(rs, task)
        task.assignment_status = "canceled"
        task.reason = reason
        task.date_updated = now
        self._save(task)
        self._record(space, "task.canceled", "task", task.sid, f"Task {task.sid} canceled", task_data(task, now))

    def _accept(self, space: Any, task: Task, res: Reservation, now: float) -> None:
        rs: RoutingSpace = space.routing
        res.reservation_status = "accepted"
        res.date_updated = now
        self._save(task, res)
        task.assignment_status = "assigned"
        task.date_updated = now
        task.version += 1
        rs.waiting.pop(task.sid, None)
        self._bump_step(rs, task)
        self._reservation_event(space, "reservation.accepted", task, res, now, f"Reservation {res.sid} accepted")
        for other in rs.active_reservations(task.sid, "pending"):
            self._finish_reservation(space, task, other, "rescinded", now)
        queue = rs.queues.get(res.task_queue_sid)
        worker = space.workers.get(res.worker_sid)
        if (worker is not None and queue is not None and queue.assignment_activity_sid
                and not space.workspace.multi_task_enabled):
            self._set_worker_activity(space, worker, space.activities[queue.assignment_activity_sid])

    def _wrapup(self, space: Any, task: Task, res: Reservation, now: float) -> None:
        res.reservation_status = "wrapping"
        res.date_updated = now
        self._save(task, res)
        task.assignment_status = "wrapping"
        task.date_updated = now
        self._reservation_event(space, "reservation.wrapup", task, res, now, f"Reservation {res.sid} wrapping up")
        self._record(space, "task.wrapup", "task", task.sid, f"Task {task.sid} wrapping up", task_data(task, now))

    def _complete(self, space: Any, task: Task, res: Reservation, reason: str, now: float) -> None:
        task.assignment_status = "completed"
        task.reason = reason
        task.date_updated = now
        self._save(task)
        self._finish_reservation(space, task, res, "completed", now)
        self._record(space, "task.completed", "task", task.sid, f"Task {task.sid} completed", task_data(task, now))

    def get_reservation(self, workspace_sid: str, sid: str, *, task_sid: str | None = None,
                        worker_sid: str | None = None) -> Reservation:
        rs: RoutingSpace = self._space(workspace_sid).routing
        res = rs.reservations.get(sid)
        if (res is None or (task_sid is not None and res.task_sid != task_sid)
                or (worker_sid is not None and res.worker_sid != worker_sid)):
            raise _not_found()
        return res

    def list_reservations(self, workspace_sid: str, *, task_sid: str | None = None, worker_sid: str | None = None,
                          status: str | None = None) -> list[Reservation]:
        space = self._space(workspace_sid)
        rs: RoutingSpace = space.routing
        if task_sid is not None:
            if task_sid not in rs.tasks:
                raise _not_found()
            sids: Iterator[str] | list[str] = rs.task_reservations.get(task_sid, [])
        else:
            if worker_sid not in space.workers:
                raise _not_found()
            sids = rs.worker_reservations.get(worker_sid or "", [])
        found = [rs.reservations[sid] for sid in sids]
        return [r for r in found if (status is None or r.reservation_status == status)
                and (worker_sid is None or r.worker_sid == worker_sid)]

    def update_reservation(self, workspace_sid: str, sid: str, change: ReservationChange, *,
                           task_sid: str | None = None, worker_sid: str | None = None) -> Reservation:
        space = self._space(workspace_sid)
        rs: RoutingSpace = space.routing
        res = self.get_reservation(workspace_sid, sid, task_sid=task_sid, worker_sid=worker_sid)
        task = rs.tasks[res.task_sid]
        wanted = change.reservation_status
        instruction = change.instruction
        if instruction is not None:
            wanted = "rejected" if instruction == "reject" else "accepted"
        if wanted is None:
            return res
        current = res.reservation_status
        allowed = {"accepted": ("pending",), "rejected": ("pending",), "wrapping": ("accepted",),
                   "completed": ("accepted", "wrapping")}
        if current not in allowed[wanted]:
            expected = ", ".join(allowed[wanted])
            raise wrong_state(f"Reservation {sid} not in expected state [{expected}] and cannot be updated to [{wanted}]")
        activity_sid = change.worker_activity_sid
        activity = None
        if activity_sid is not None:
            activity = space.activities.get(activity_sid)
            if activity is None:
                raise bad_parameter(f"WorkerActivitySid {activity_sid} is not an Activity in Workspace {workspace_sid}")
        now = self.clock()
        with self._change():
            if wanted == "accepted":
                self._accept(space, task, res, now)
                worker = space.workers.get(res.worker_sid)
                if activity is not None and worker is not None and worker.activity_sid != activity.sid:
                    self._set_worker_activity(space, worker, activity)
                if instruction in CALL_INSTRUCTIONS:
                    self._record_instruction(res, instruction or "", change.instruction_parameters or {}, now)
            elif wanted == "rejected":
                self._end_pending(space, res, "rejected", now, activity)
            elif wanted == "wrapping":
                self._wrapup(space, task, res, now)
            else:
                self._complete(space, task, res, "", now)
            self._route(space)
        return res

    def _record_instruction(self, res: Reservation, instruction: str, parameters: dict[str, str], now: float) -> None:
        """dequeue, call, redirect and conference need telephony the emulator lacks: record them as a Call
        (GET /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}/Events.json shows them)."""
        from ..model import CallEvent
        from ..render import rfc2822

        url = parameters.get("CallUrl") or parameters.get("RedirectUrl") or f"taskrouter://instruction/{instruction}"
        form = {"instruction": instruction, "reservation_sid": res.sid, "task_sid": res.task_sid,
                "worker_sid": res.worker_sid}
        for name, value in parameters.items():
            form[_snake(name)] = value
        call_sid = parameters.get("RedirectCallSid")
        event = CallEvent(
            request={"method": "POST", "url": url, "parameters": form},
            response={"response_code": 200, "request_duration": 0, "content_type": "application/json",
                      "response_body": "", "date_created": rfc2822(now)},
        )
        self.create_call([event], sid=call_sid if call_sid and is_sid(call_sid, "CA") else None)

    # ---- worker channels ------------------------------------------------------------------------------

    def _worker_channel(self, space: Any, worker_sid: str, channel: TaskChannel) -> WorkerChannel:
        rs: RoutingSpace = space.routing
        key = (worker_sid, channel.sid)
        wc = rs.worker_channels.get(key)
        if wc is None:
            worker = space.workers[worker_sid]
            ws = space.workspace
            wc = rs.worker_channels[key] = WorkerChannel(
                new_sid("WC"), ws.account_sid, ws.sid, worker_sid, channel.sid, channel.unique_name, 1, True,
                worker.date_created, worker.date_created,
            )
            self._assign_seq(wc.sid)
            self._save(wc)
        return wc

    def list_worker_channels(self, workspace_sid: str, worker_sid: str) -> list[tuple[WorkerChannel, int]]:
        space = self._space(workspace_sid)
        if worker_sid not in space.workers:
            raise _not_found()
        rs: RoutingSpace = space.routing
        load = rs.load.get(worker_sid, {})
        with self._change():  # channels made on first sight are written to the state file, if there is one
            return [(self._worker_channel(space, worker_sid, channel), load.get(channel.sid, 0))
                    for channel in rs.channels.values()]

    def get_worker_channel(self, workspace_sid: str, worker_sid: str, sid: str) -> tuple[WorkerChannel, int]:
        for wc, count in self.list_worker_channels(workspace_sid, worker_sid):
            if sid in (wc.sid, wc.task_channel_sid, wc.task_channel_unique_name):
                return wc, count
        raise _not_found()

    def update_worker_channel(self, workspace_sid: str, worker_sid: str, sid: str, capacity: int | None,
                              available: bool | None) -> tuple[WorkerChannel, int]:
        space = self._space(workspace_sid)
        wc, count = self.get_worker_channel(workspace_sid, worker_sid, sid)
        if capacity is not None and capacity > 1 and wc.task_channel_unique_name == "voice":
            raise bad_parameter("Capacity of the voice TaskChannel must be 0 or 1")
        worker = space.workers[worker_sid]
        now = self.clock()
        with self._change():
            self._save(wc)
            activity = space.activities[worker.activity_sid]
            if capacity is not None and capacity != wc.configured_capacity:
                previous = wc.configured_capacity
                wc.configured_capacity = capacity
                wc.date_updated = now
                self._record(space, "worker.capacity.update", "worker", worker_sid,
                             f"Worker {worker.friendly_name}'s {wc.task_channel_unique_name} channel capacity updated",
                             worker_channel_data(worker, activity, wc, previous, count))
            if available is not None and available != wc.available:
                wc.available = available
                wc.date_updated = now
                self._record(space, "worker.channel.availability.update", "worker", worker_sid,
                             f"Worker {worker.friendly_name}'s {wc.task_channel_unique_name} channel availability "
                             "updated", worker_channel_data(worker, activity, wc, wc.configured_capacity, count))
            self._route(space)
        return wc, count

    # ---- the routing pass -----------------------------------------------------------------------------

    def _free_workers(self, space: Any) -> dict[str, Worker]:
        """Workers that could take a task now: an available activity, and (single-tasking) no task held."""
        rs: RoutingSpace = space.routing
        activities = space.activities
        multitask = space.workspace.multi_task_enabled
        return {
            sid: worker for sid, worker in space.workers.items()
            if activities[worker.activity_sid].available and (multitask or not rs.held(sid))
        }

    def _has_capacity(self, space: Any, worker_sid: str, task: Task) -> bool:
        rs: RoutingSpace = space.routing
        if not space.workspace.multi_task_enabled:
            return not rs.held(worker_sid)
        wc = self._worker_channel(space, worker_sid, rs.channels[task.task_channel_sid])
        if not wc.available:
            return False
        return task.ignore_capacity or rs.load.get(worker_sid, {}).get(task.task_channel_sid, 0) < wc.configured_capacity

    def _candidates(self, space: Any, task: Task, queue: TaskQueue, target: wf_config.Target | None,
                    free: dict[str, Worker]) -> list[str]:
        rs: RoutingSpace = space.routing
        excluded = rs.refused.get(task.sid, set()) | {r.worker_sid for r in rs.active_reservations(task.sid)}
        task_attrs = rs.task_attrs[task.sid]
        known: str | None = None
        if task.routing_target is not None:
            known = task.routing_target
        elif target is not None and target.known_worker_sid is not None:
            known = wf_config.resolve_known(target.known_worker_sid, task_attrs) or ""
        elif target is not None and target.known_worker_friendly_name is not None:
            name = wf_config.resolve_known(target.known_worker_friendly_name, task_attrs) or ""
            known = space.names.get(name.casefold(), "")
        if known is not None:
            pool: list[str] = [known] if known in free else []
        else:
            # Walk the smaller side of (queue members, free workers): a pass stays linear in workers.
            members = self.queue_members(space, queue.sid)
            if len(members) < len(free):
                pool = sorted((sid for sid in members if sid in free), key=self._seq.__getitem__)
            else:
                pool = [sid for sid in free if sid in members]
        found = []
        for sid in pool:
            if sid in excluded:
                continue
            if not self._has_capacity(space, sid, task):
                continue
            if target is not None and target.expression is not None and known is None:
                view = wf_config.TargetView(self._worker_view(space, free[sid]), task_attrs)
                if not target.expression(view):
                    continue
            found.append(sid)
        return found

    def _current_target(self, rs: RoutingSpace, task: Task) -> wf_config.Target | None:
        if task.routing_target is not None or task.workflow_sid not in rs.configs:
            return None
        targets = rs.configs[task.workflow_sid or ""].targets(task.filter_index)
        return targets[task.target_index] if task.target_index < len(targets) else None

    def _route(self, space: Any) -> None:
        """One routing pass: every waiting task, queue by queue in queue order, gets reservations up to its
        queue's MaxReservedWorkers from the workers free now."""
        rs: RoutingSpace = space.routing
        if not rs.waiting:
            return
        free = self._free_workers(space)
        if not free:
            return
        by_queue: dict[str, list[Task]] = {}
        for task in rs.waiting.values():
            by_queue.setdefault(task.task_queue_sid or "", []).append(task)
        now = self.clock()
        for queue_sid in [sid for sid in rs.queues if sid in by_queue]:
            queue = rs.queues[queue_sid]
            for task in sorted(by_queue[queue_sid], key=lambda t: engine.queue_order_key(queue, t)):
                if not free:
                    return
                if task.sid not in rs.waiting:
                    continue
                wanted = queue.max_reserved_workers - len(rs.active_reservations(task.sid, "pending"))
                if wanted <= 0:
                    continue
                target = self._current_target(rs, task)
                found = self._candidates(space, task, queue, target, free)
                if not found:
                    continue
                ranked = engine.rank_workers(
                    [(sid, self._worker_view(space, free[sid]), self._idle_since(space, free[sid]), self._seq[sid])
                     for sid in found],
                    target.order_by if target is not None else (),
                )
                for sid in ranked[:wanted]:
                    worker = free[sid]
                    self._reserve(space, task, worker, queue, now)
                    if not space.activities[worker.activity_sid].available or not (
                        space.workspace.multi_task_enabled
                    ):
                        del free[sid]

    def _idle_since(self, space: Any, worker: Worker) -> float:
        return max(worker.date_status_changed, space.routing.idle_since.get(worker.sid, 0.0))


def _snake(name: str) -> str:
    out = []
    for index, char in enumerate(name):
        if char.isupper() and index:
            out.append("_")
        out.append(char.lower())
    return "".join(out)

