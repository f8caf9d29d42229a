"""TaskQueueService requests and TaskQueue resources."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from taskrouter.gateway.v1 import task_queue_pb2
from taskrouter.gateway.v1 import task_queue_service_pb2 as svc

from .paging import list_call, next_token
from .rest_call import RestCall
from .values import present_params, set_params, set_timestamp

_Order = task_queue_pb2.TaskQueue.TaskOrder
ORDER_TO_REST = {_Order.TASK_ORDER_FIFO: "FIFO", _Order.TASK_ORDER_LIFO: "LIFO"}
_ORDER_FROM_REST = {v: k for k, v in ORDER_TO_REST.items()}

_LIST_FILTERS = (
    ("friendly_name", "FriendlyName"),
    ("evaluate_worker_attributes", "EvaluateWorkerAttributes"),
    ("worker_sid", "WorkerSid"),
    ("ordering", "Ordering"),
)
_CREATE_FIELDS = (
    ("target_workers", "TargetWorkers"),
    ("reservation_activity_sid", "ReservationActivitySid"),
    ("assignment_activity_sid", "AssignmentActivitySid"),
)
_UPDATE_FIELDS = (
    ("friendly_name", "FriendlyName"),
    ("target_workers", "TargetWorkers"),
    ("reservation_activity_sid", "ReservationActivitySid"),
    ("assignment_activity_sid", "AssignmentActivitySid"),
    ("max_reserved_workers", "MaxReservedWorkers"),
)


def _collection(workspace_sid: str) -> str:
    return f"/v1/Workspaces/{workspace_sid}/TaskQueues"


def get_call(req: svc.GetTaskQueueRequest) -> RestCall:
    return RestCall("GET", f"{_collection(req.workspace_sid)}/{req.sid}")


def list_call_for(req: svc.ListTaskQueuesRequest) -> RestCall:
    return list_call(_collection(req.workspace_sid), set_params(req, _LIST_FILTERS), req.page_size, req.page_token)


def create_call(req: svc.CreateTaskQueueRequest) -> RestCall:
    form: dict[str, object] = {"FriendlyName": req.friendly_name, **set_params(req, _CREATE_FIELDS)}
    if req.HasField("max_reserved_workers"):
        form["MaxReservedWorkers"] = req.max_reserved_workers
    if req.task_order in ORDER_TO_REST:
        form["TaskOrder"] = ORDER_TO_REST[req.task_order]
    return RestCall("POST", _collection(req.workspace_sid), form=form)


def update_call(req: svc.UpdateTaskQueueRequest) -> RestCall:
    form = present_params(req, _UPDATE_FIELDS)
    if req.task_order in ORDER_TO_REST:
        form["TaskOrder"] = ORDER_TO_REST[req.task_order]
    return RestCall("POST", f"{_collection(req.workspace_sid)}/{req.sid}", form=form)


def delete_call(req: svc.DeleteTaskQueueRequest) -> RestCall:
    return RestCall("DELETE", f"{_collection(req.workspace_sid)}/{req.sid}")


def task_queue_from_json(data: Mapping[str, Any]) -> task_queue_pb2.TaskQueue:
    msg = task_queue_pb2.TaskQueue(
        account_sid=data.get("account_sid") or "",
        assignment_activity_name=data.get("assignment_activity_name") or "",
        assignment_activity_sid=data.get("assignment_activity_sid") or "",
        friendly_name=data.get("friendly_name") or "",
        max_reserved_workers=data.get("max_reserved_workers") or 0,
        reservation_activity_name=data.get("reservation_activity_name") or "",
        reservation_activity_sid=data.get("reservation_activity_sid") or "",
        sid=data.get("sid") or "",
        target_workers=data.get("target_workers") or "",
        task_order=_ORDER_FROM_REST.get(data.get("task_order") or "", _Order.TASK_ORDER_UNSPECIFIED),
        workspace_sid=data.get("workspace_sid") or "",
        url=data.get("url") or "",
        links=data.get("links") or {},
    )
    set_timestamp(msg.date_created, data.get("date_created"))
    set_timestamp(msg.date_updated, data.get("date_updated"))
    return msg


def list_response(body: Mapping[str, Any]) -> svc.ListTaskQueuesResponse:
    return svc.ListTaskQueuesResponse(
        task_queues=[task_queue_from_json(item) for item in body.get("task_queues") or ()],
        next_page_token=next_token(body),
    )
