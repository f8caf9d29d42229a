"""Task-routing records to Twilio's JSON shapes (property names and links as the OpenAPI examples show)."""

from __future__ import annotations

from typing import Any

from .model import Activity, Reservation, Task, TaskChannel, TaskQueue, WorkerChannel, Workflow
from .render import activity_url, iso, worker_url, workspace_url


def task_channel(base: str, ch: TaskChannel) -> dict[str, Any]:
    ws_url = workspace_url(base, ch.workspace_sid)
    return {
        "account_sid": ch.account_sid,
        "channel_optimized_routing": ch.channel_optimized_routing,
        "date_created": iso(ch.date_created),
        "date_updated": iso(ch.date_updated),
        "friendly_name": ch.friendly_name,
        "links": {"workspace": ws_url},
        "sid": ch.sid,
        "unique_name": ch.unique_name,
        "url": f"{ws_url}/TaskChannels/{ch.sid}",
        "workspace_sid": ch.workspace_sid,
    }


def task_queue(base: str, q: TaskQueue, reservation: Activity | None, assignment: Activity | None) -> dict[str, Any]:
    ws_url = workspace_url(base, q.workspace_sid)
    url = f"{ws_url}/TaskQueues/{q.sid}"
    links = {
        "workspace": ws_url,
        "statistics": url + "/Statistics",
        "real_time_statistics": url + "/RealTimeStatistics",
        "cumulative_statistics": url + "/CumulativeStatistics",
        "list_statistics": ws_url + "/TaskQueues/Statistics",
        "bulk_real_time_statistics": ws_url + "/TaskQueues/RealTimeStatistics",
    }
    if q.assignment_activity_sid:
        links["assignment_activity"] = activity_url(base, q.workspace_sid, q.assignment_activity_sid)
    if q.reservation_activity_sid:
        links["reservation_activity"] = activity_url(base, q.workspace_sid, q.reservation_activity_sid)
    return {
        "account_sid": q.account_sid,
        "assignment_activity_name": assignment.friendly_name if assignment else None,
        "assignment_activity_sid": q.assignment_activity_sid,
        "date_created": iso(q.date_created),
        "date_updated": iso(q.date_updated),
        "friendly_name": q.friendly_name,
        "links": links,
        "max_reserved_workers": q.max_reserved_workers,
        "reservation_activity_name": reservation.friendly_name if reservation else None,
        "reservation_activity_sid": q.reservation_activity_sid,
        "sid": q.sid,
        "target_workers": q.target_workers,
        "task_order": q.task_order,
        "url": url,
        "workspace_sid": q.workspace_sid,
    }


def workflow(base: str, wf: Workflow) -> dict[str, Any]:
    ws_url = workspace_url(base, wf.workspace_sid)
    url = f"{ws_url}/Workflows/{wf.sid}"
    return {
        "account_sid": wf.account_sid,
        "assignment_callback_url": wf.assignment_callback_url,
        "configuration": wf.configuration,
        "date_created": iso(wf.date_created),
        "date_updated": iso(wf.date_updated),
        "document_content_type": "application/json",
        "fallback_assignment_callback_url": wf.fallback_assignment_callback_url,
        "friendly_name": wf.friendly_name,
        "links": {
            "statistics": url + "/Statistics",
            "real_time_statistics": url + "/RealTimeStatistics",
            "cumulative_statistics": url + "/CumulativeStatistics",
        },
        "sid": wf.sid,
        "task_reservation_timeout": wf.task_reservation_timeout,
        "url": url,
        "workspace_sid": wf.workspace_sid,
    }


def task(
    base: str,
    t: Task,
    names: tuple[str | None, str | None, str | None],
    now: float,
    *,
    with_attributes: bool,
) -> dict[str, Any]:
    queue_name, workflow_name, channel_name = names
    ws_url = workspace_url(base, t.workspace_sid)
    url = f"{ws_url}/Tasks/{t.sid}"
    links = {"workspace": ws_url, "reservations": url + "/Reservations"}
    if t.task_queue_sid:
        links["task_queue"] = f"{ws_url}/TaskQueues/{t.task_queue_sid}"
    if t.workflow_sid:
        links["workflow"] = f"{ws_url}/Workflows/{t.workflow_sid}"
    return {
        "account_sid": t.account_sid,
        "addons": "{}",
        "age": max(0, int(now - t.date_created)),
        "assignment_status": t.assignment_status,
        # As for workers: attributes only on a single Task; lists carry null.
        "attributes": t.attributes if with_attributes else None,
        "date_created": iso(t.date_created),
        "date_updated": iso(t.date_updated),
        "ignore_capacity": t.ignore_capacity,
        "links": links,
        "priority": t.target_priority if t.target_priority is not None else t.priority,
        "reason": t.reason,
        "routing_target": t.routing_target,
        "sid": t.sid,
        "task_channel_sid": t.task_channel_sid,
        "task_channel_unique_name": channel_name,
        "task_queue_entered_date": iso(t.task_queue_entered_date) if t.task_queue_entered_date else None,
        "task_queue_friendly_name": queue_name,
        "task_queue_sid": t.task_queue_sid,
        "timeout": t.timeout,
        "url": url,
        "virtual_start_time": iso(t.virtual_start_time),
        "workflow_friendly_name": workflow_name,
        "workflow_sid": t.workflow_sid,
        "workspace_sid": t.workspace_sid,
    }


def reservation(base: str, r: Reservation, *, worker_scoped: bool) -> dict[str, Any]:
    ws_url = workspace_url(base, r.workspace_sid)
    parent = worker_url(base, r.workspace_sid, r.worker_sid) if worker_scoped else f"{ws_url}/Tasks/{r.task_sid}"
    return {
        "account_sid": r.account_sid,
        "date_created": iso(r.date_created),
        "date_updated": iso(r.date_updated),
        "links": {
            "task": f"{ws_url}/Tasks/{r.task_sid}",
            "worker": worker_url(base, r.workspace_sid, r.worker_sid),
            "workspace": ws_url,
        },
        "reservation_status": r.reservation_status,
        "sid": r.sid,
        "task_sid": r.task_sid,
        "url": f"{parent}/Reservations/{r.sid}",
        "worker_name": r.worker_name,
        "worker_sid": r.worker_sid,
        "workspace_sid": r.workspace_sid,
    }


def worker_channel(base: str, wc: WorkerChannel, assigned: int) -> dict[str, Any]:
    capacity = wc.configured_capacity
    free = max(0, capacity - assigned)
    return {
        "account_sid": wc.account_sid,
        "assigned_tasks": assigned,
        "available": wc.available,
        "available_capacity_percentage": int(free * 100 / capacity) if capacity else 0,
        "configured_capacity": capacity,
        "date_created": iso(wc.date_created),
        "date_updated": iso(wc.date_updated),
        "sid": wc.sid,
        "task_channel_sid": wc.task_channel_sid,
        "task_channel_unique_name": wc.task_channel_unique_name,
        "url": f"{worker_url(base, wc.workspace_sid, wc.worker_sid)}/Channels/{wc.sid}",
        "worker_sid": wc.worker_sid,
        "workspace_sid": wc.workspace_sid,
    }
