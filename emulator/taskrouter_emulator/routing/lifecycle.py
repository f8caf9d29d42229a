"""Tasks, the workflow walk (filters, targets, step timeouts) and reservations: the task and reservation
lifecycles, with the events of each transition in the order docs/routing-events.md fixes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from ..errors import PRECONDITION_FAILED, TwilioApiError, bad_parameter
from ..model import Activity, Reservation, Task, TaskChannel, TaskQueue, Worker
from ..sids import is_sid, new_sid
from . import config as wf_config
from . import engine
from .changes import (
    CALL_INSTRUCTIONS,
    DEFAULT_TASK_TIMEOUT,
    REASON_NO_FILTER,
    REASON_SKIPPED,
    REASON_WORKFLOW_TIMEOUT,
    ReservationChange,
    TaskChange,
    TaskFilters,
    not_found,
    wrong_state,
)
from .event_data import (
    reservation_data,
    task_data,
)
from .resources import ResourcesMixin
from .space import FINAL_TASK_KEPT_SECONDS, WAITING_TASK, RoutingSpace


class LifecycleMixin(ResourcesMixin):
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
            task.version = 0  # the created task's first ETag, whatever routing did while creating it
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
            raise not_found()
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
        before = task.version
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
            if changed:  # status changes move the version in their transition (_cancel_task, _wrapup, ...)
                self._task_moved(task, now)
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
            if task.version != before:
                task.version = before + 1  # one request, one new ETag, however many steps it took
        return task

    def delete_task(self, workspace_sid: str, sid: str, if_match: str | None = None) -> None:
        space = self._space(workspace_sid)
        rs: RoutingSpace = space.routing
        task = self.get_task(workspace_sid, sid)
        self._check_etag(task, if_match)
        now = self.clock()
        with self._change():
            self._remove_task(rs, task)
            self._record(space, "task.deleted", "task", sid, f"Task {sid} deleted", task_data(task, now))
            self._route(space)

    def _system_delete(self, space: Any, task: Task, now: float) -> None:
        """A canceled or completed task goes FINAL_TASK_KEPT_SECONDS after it ended, as on TaskRouter."""
        self._remove_task(space.routing, task)
        self._record(space, "task.system-deleted", "task", task.sid, f"Task {task.sid} deleted by the system",
                     task_data(task, now))

    def _remove_task(self, rs: RoutingSpace, task: Task) -> None:
        """The task and its reservations leave every index (a held reservation frees its capacity)."""
        sid = task.sid
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

    def _task_moved(self, task: Task, now: float) -> None:
        """Every change of a task's state moves its ETag, so If-Match catches what routing did meanwhile."""
        task.version += 1
        task.date_updated = now
        self._save(task)

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
        self._task_moved(task, now)
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
        if task.assignment_status != "reserved":
            task.assignment_status = "reserved"
            self._task_moved(task, now)
        self._save(res)
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
            self._task_moved(task, now)
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
        self._task_moved(task, now)
        self._schedule(now + FINAL_TASK_KEPT_SECONDS, "cleanup", task.workspace_sid, task.sid)
        self._record(space, "task.canceled", "task", task.sid, f"Task {task.sid} canceled", task_data(task, now))

    def _accept(self, space: Any, task: Task, res: Reservation, now: float) -> None:
        rs: RoutingSpace = space.routing
        res.reservation_status = "accepted"
        res.date_updated = now
        self._save(task, res)
        task.assignment_status = "assigned"
        self._task_moved(task, now)
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
        self._task_moved(task, now)
        self._reservation_event(space, "reservation.wrapup", task, res, now, f"Reservation {res.sid} wrapping up")
        self._record(space, "task.wrapup", "task", task.sid, f"Task {task.sid} wrapping up", task_data(task, now))

    def _complete(self, space: Any, task: Task, res: Reservation, reason: str, now: float) -> None:
        task.assignment_status = "completed"
        task.reason = reason
        self._task_moved(task, now)
        self._schedule(now + FINAL_TASK_KEPT_SECONDS, "cleanup", task.workspace_sid, task.sid)
        self._finish_reservation(space, task, res, "completed", now)
        self._record(space, "task.completed", "task", task.sid, f"Task {task.sid} completed", task_data(task, now))

    def get_reservation(self, workspace_sid: str, sid: str, *, task_sid: str | None = None,
                        worker_sid: str | None = None) -> Reservation:
        rs: RoutingSpace = self._space(workspace_sid).routing
        res = rs.reservations.get(sid)
        if (res is None or (task_sid is not None and res.task_sid != task_sid)
                or (worker_sid is not None and res.worker_sid != worker_sid)):
            raise not_found()
        return res

    def list_reservations(self, workspace_sid: str, *, task_sid: str | None = None, worker_sid: str | None = None,
                          status: str | None = None) -> list[Reservation]:
        space = self._space(workspace_sid)
        rs: RoutingSpace = space.routing
        if task_sid is not None:
            if task_sid not in rs.tasks:
                raise not_found()
            sids: Iterator[str] | list[str] = rs.task_reservations.get(task_sid, [])
        else:
            if worker_sid not in space.workers:
                raise not_found()
            sids = rs.worker_reservations.get(worker_sid or "", [])
        found = [rs.reservations[sid] for sid in sids]
        return [r for r in found if (status is None or r.reservation_status == status)
                and (worker_sid is None or r.worker_sid == worker_sid)]

    def update_reservation(self, workspace_sid: str, sid: str, change: ReservationChange, *,
                           task_sid: str | None = None, worker_sid: str | None = None,
                           if_match: str | None = None) -> Reservation:
        space = self._space(workspace_sid)
        rs: RoutingSpace = space.routing
        res = self.get_reservation(workspace_sid, sid, task_sid=task_sid, worker_sid=worker_sid)
        task = rs.tasks[res.task_sid]
        # A Reservation's ETag is its Task's (every reservation change moves the Task, so it moves the ETag).
        self._check_etag(task, if_match)
        wanted = change.reservation_status
        instruction = change.instruction
        if instruction == "supervise":
            return self._supervise(res, change, sid)
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

    def _supervise(self, res: Reservation, change: ReservationChange, sid: str) -> Reservation:
        """A supervisor joins the Worker's call: the Reservation must be accepted and stays so."""
        if res.reservation_status != "accepted":
            raise wrong_state(f"Reservation {sid} not in expected state [accepted] and cannot be supervised")
        with self._change():
            self._record_instruction(res, "supervise", change.instruction_parameters or {}, self.clock())
        return res

    def _record_instruction(self, res: Reservation, instruction: str, parameters: dict[str, str], now: float) -> None:
        """dequeue, call, redirect, conference and supervise need telephony the emulator lacks: record them as a Call
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



def _snake(name: str) -> str:
    out = []
    for index, char in enumerate(name):
        if char.isupper() and index:
            out.append("_")
        out.append(char.lower())
    return "".join(out)

