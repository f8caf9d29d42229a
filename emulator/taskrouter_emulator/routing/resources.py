"""TaskChannels, TaskQueues, Workflows and WorkerChannels in the Store, and the workspace and worker hooks
state.Store calls. Validate first, change after, inside one `_change()`."""

from __future__ import annotations

from typing import Any

import orjson

from ..errors import bad_parameter
from ..expression import ExpressionError, Predicate, compile_expression
from ..model import TaskChannel, TaskQueue, Worker, WorkerChannel, Workflow
from ..sids import new_sid
from . import config as wf_config
from .base import RoutingBase
from .changes import (
    DEFAULT_CHANNELS,
    not_found,
)
from .event_data import (
    task_channel_data,
    task_queue_data,
    task_queue_expression_data,
    worker_channel_data,
    workflow_data,
)
from .space import RoutingSpace


class ResourcesMixin(RoutingBase):
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
            raise not_found()
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
            raise not_found()
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
                raise not_found(f"TaskQueue {queue_sid} was not found in Workspace {workspace_sid}")
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
                raise not_found(f"Worker {worker_sid} was not found in Workspace {workspace_sid}")
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
            raise not_found()
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
            raise not_found()
        rs: RoutingSpace = space.routing
        load = rs.load.get(worker_sid, {})
        with self._change():  # channels made on first sight are written to the state file, if there is one
            return [(self._worker_channel(space, worker_sid, channel), load.get(channel.sid, 0))
                    for channel in rs.channels.values()]

    def get_worker_channel(self, workspace_sid: str, worker_sid: str, sid: str) -> tuple[WorkerChannel, int]:
        for wc, count in self.list_worker_channels(workspace_sid, worker_sid):
            if sid in (wc.sid, wc.task_channel_sid, wc.task_channel_unique_name):
                return wc, count
        raise not_found()

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

