"""The workflow walk: a task enters its Workflow, matches a filter, and moves target by target (skip_if,
step timeouts) into a queue; the walk's events come in the order docs/routing-events.md fixes."""

from __future__ import annotations

from ..model import Task
from . import dispatch, transitions
from . import workflow_config as wf_config
from .changes import REASON_NO_FILTER, REASON_SKIPPED, REASON_WORKFLOW_TIMEOUT
from .event_data import task_data
from .space import Space
from .transaction import Transaction


def _workflow_task_data(task: Task, now: float) -> dict[str, str]:
    return task_data(task, now, queue=False)


def enter_workflow(tx: Transaction, space: Space, task: Task, now: float) -> None:
    rs = space.routing
    configuration = rs.configs[task.workflow_sid or ""]
    workflow = rs.workflows[task.workflow_sid or ""]
    transitions.bump_step(rs, task)
    tx.save(task)
    task.workflow_entered = now
    tx.record(space, "workflow.entered", "task", task.sid,
              f"Task {task.sid} entered Workflow {workflow.friendly_name}", _workflow_task_data(task, now))
    view = wf_config.TaskView(rs.task_attrs[task.sid])
    task.filter_index = -1
    for index, flt in enumerate(configuration.filters):
        if flt.expression(view):
            task.filter_index = index
            break
    if task.filter_index < 0 and configuration.default is None:
        transitions.cancel_task(tx, space, task, REASON_NO_FILTER, now)
        return
    task.target_index = 0
    _enter_target(tx, space, task, now)


def _available_for_target(tx: Transaction, space: Space, task: Task, queue_sid: str,
                          target: wf_config.Target) -> int:
    queue = space.routing.queues[queue_sid]
    return len(dispatch.candidates(tx, space, task, queue, target, dispatch.free_workers(space)))


def _enter_target(tx: Transaction, space: Space, task: Task, now: float) -> None:
    rs = space.routing
    targets = rs.configs[task.workflow_sid or ""].targets(task.filter_index)
    previous_queue = task.task_queue_sid
    while task.target_index < len(targets):
        target = targets[task.target_index]
        last = task.target_index == len(targets) - 1
        if target.timeout is not None and now - task.workflow_entered >= target.timeout:
            task.target_index += 1
            continue
        if target.skip_if is not None:
            available = _available_for_target(tx, space, task, target.queue, target)
            if target.skip_if({"workers": {"available": available}}):
                if last:
                    tx.record(space, "workflow.skipped", "task", task.sid,
                              f"Task {task.sid} skipped out of the Workflow", _workflow_task_data(task, now))
                    transitions.cancel_task(tx, space, task, REASON_SKIPPED, now)
                    return
                task.target_index += 1
                continue
        task.target_priority = target.priority
        tx.record(space, "workflow.target-matched", "task", task.sid,
                  f"Task {task.sid} matched a Workflow target", _workflow_task_data(task, now))
        enter_queue(tx, space, task, target.queue, previous_queue, now)
        if target.timeout is not None:
            tx.schedule(task.workflow_entered + target.timeout, "step", task.workspace_sid, task.sid,
                        rs.step_gen[task.sid])
        return
    tx.record(space, "workflow.timeout", "task", task.sid,
              f"Task {task.sid} reached the end of its Workflow", _workflow_task_data(task, now))
    transitions.cancel_task(tx, space, task, REASON_WORKFLOW_TIMEOUT, now)


def enter_queue(tx: Transaction, space: Space, task: Task, queue_sid: str, previous: str | None,
                now: float) -> None:
    rs = space.routing
    queue = rs.queues[queue_sid]
    if previous is not None and previous != queue_sid:
        tx.record(space, "task-queue.moved", "task", task.sid,
                  f"Task {task.sid} moved to TaskQueue {queue.friendly_name}", task_data(task, now))
    task.task_queue_sid = queue_sid
    task.task_queue_entered_date = now
    transitions.task_moved(tx, task, now)
    rs.waiting[task.sid] = task
    tx.record(space, "task-queue.entered", "task", task.sid,
              f"Task {task.sid} entered TaskQueue {queue.friendly_name}", task_data(task, now))


def step_timeout(tx: Transaction, space: Space, task: Task, now: float) -> None:
    rs = space.routing
    tx.record(space, "task-queue.timeout", "task", task.sid,
              f"Task {task.sid} timed out of TaskQueue", task_data(task, now))
    for res in rs.active_reservations(task.sid, "pending"):
        transitions.finish_reservation(tx, space, task, res, "canceled", now)
    task.assignment_status = "pending"
    transitions.bump_step(rs, task)
    tx.save(task)
    task.target_index += 1
    _enter_target(tx, space, task, now)
