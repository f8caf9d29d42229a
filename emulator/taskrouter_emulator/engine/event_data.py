"""event_data for the routing events: seed 001's field groups in snake_case (see model.py's contract).

Groups: Task (seven task_* fields), Worker (event_log.worker_data), Worker Channel (six fields),
TaskChannel (four), plus the single SIDs each event type lists.
"""

from __future__ import annotations

from ..event_log import OPERATING_UNIT_SID, worker_data
from ..model import Activity, Reservation, Task, TaskChannel, TaskQueue, Worker, WorkerChannel, Workflow
from .ranking import effective_priority


def task_data(task: Task, now: float, *, queue: bool = True) -> dict[str, str]:
    data = {
        "task_sid": task.sid,
        "task_attributes": task.attributes,
        "task_age": str(max(0, int(now - task.date_created))),
        "task_priority": str(effective_priority(task)),
        "task_assignment_status": task.assignment_status,
        "task_canceled_reason": task.reason or "" if task.assignment_status == "canceled" else "",
        "task_completed_reason": task.reason or "" if task.assignment_status == "completed" else "",
    }
    if queue:
        data["task_queue_sid"] = task.task_queue_sid or ""
    data["workflow_sid"] = task.workflow_sid or ""
    return data


def reservation_data(
    task: Task, reservation: Reservation, worker: Worker | None, activity: Activity | None, now: float
) -> dict[str, str]:
    data = task_data(task, now)
    if worker is not None and activity is not None:
        data.update(worker_data(worker, activity))
    data["task_queue_sid"] = reservation.task_queue_sid
    data["reservation_sid"] = reservation.sid
    return data


def task_queue_data(queue: TaskQueue, *, created: bool = False) -> dict[str, str]:
    data = {
        "task_queue_sid": queue.sid,
        "task_queue_name": queue.friendly_name,
        "task_queue_target_expression": queue.target_workers,
    }
    if created:
        data["operating_unit_sid"] = OPERATING_UNIT_SID
    return data


def task_queue_expression_data(queue: TaskQueue) -> dict[str, str]:
    return {"task_queue_sid": queue.sid, "task_queue_target_expression": queue.target_workers}


def workflow_data(workflow: Workflow) -> dict[str, str]:
    return {"workflow_sid": workflow.sid, "workflow_name": workflow.friendly_name}


def task_channel_data(channel: TaskChannel) -> dict[str, str]:
    return {
        "task_channel_sid": channel.sid,
        "task_channel_name": channel.friendly_name,
        "task_channel_unique_name": channel.unique_name,
        "task_channel_optimized_routing": "true" if channel.channel_optimized_routing else "false",
    }


def worker_channel_data(
    worker: Worker, activity: Activity, wc: WorkerChannel, previous_capacity: int, task_count: int
) -> dict[str, str]:
    data = worker_data(worker, activity)
    data.update(
        worker_channel_available="true" if wc.available else "false",
        worker_channel_available_capacity=str(max(0, wc.configured_capacity - task_count)),
        worker_channel_previous_capacity=str(previous_capacity),
        task_channel_sid=wc.task_channel_sid,
        task_channel_unique_name=wc.task_channel_unique_name,
        worker_channel_task_count=str(task_count),
    )
    return data
