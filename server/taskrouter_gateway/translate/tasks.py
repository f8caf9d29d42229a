"""TaskService requests and Task resources."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from taskrouter.gateway.v1 import task_pb2
from taskrouter.gateway.v1 import task_service_pb2 as svc

from .paging import list_call, next_token
from .rest_call import RestCall
from .values import (
    attributes_text,
    if_match,
    present_params,
    set_params,
    set_struct_from_json,
    set_timestamp,
    timestamp_text,
)

_Status = task_pb2.Task.AssignmentStatus
STATUS_TO_REST = {
    _Status.ASSIGNMENT_STATUS_PENDING: "pending",
    _Status.ASSIGNMENT_STATUS_RESERVED: "reserved",
    _Status.ASSIGNMENT_STATUS_ASSIGNED: "assigned",
    _Status.ASSIGNMENT_STATUS_CANCELED: "canceled",
    _Status.ASSIGNMENT_STATUS_COMPLETED: "completed",
    _Status.ASSIGNMENT_STATUS_WRAPPING: "wrapping",
}
_STATUS_FROM_REST = {v: k for k, v in STATUS_TO_REST.items()}
_LIST_FILTERS = (
    ("workflow_sid", "WorkflowSid"),
    ("workflow_name", "WorkflowName"),
    ("task_queue_sid", "TaskQueueSid"),
    ("task_queue_name", "TaskQueueName"),
    ("evaluate_task_attributes", "EvaluateTaskAttributes"),
    ("routing_target", "RoutingTarget"),
    ("ordering", "Ordering"),
)
_CREATE_FIELDS = (
    ("attributes", "Attributes"),
    ("task_channel", "TaskChannel"),
    ("workflow_sid", "WorkflowSid"),
    ("routing_target", "RoutingTarget"),
    ("task_queue_sid", "TaskQueueSid"),
)
_CREATE_OPTIONAL = (("priority", "Priority"), ("timeout", "Timeout"), ("ignore_capacity", "IgnoreCapacity"))
_UPDATE_FIELDS = (
    ("attributes", "Attributes"),
    ("reason", "Reason"),
    ("priority", "Priority"),
    ("task_channel", "TaskChannel"),
)


def _collection(workspace_sid: str) -> str:
    return f"/v1/Workspaces/{workspace_sid}/Tasks"


def get_call(req: svc.GetTaskRequest) -> RestCall:
    return RestCall("GET", f"{_collection(req.workspace_sid)}/{req.sid}")


def list_call_for(req: svc.ListTasksRequest) -> RestCall:
    query = set_params(req, _LIST_FILTERS)
    if req.HasField("priority"):
        query["Priority"] = req.priority
    if req.HasField("has_addons"):
        query["HasAddons"] = req.has_addons
    if req.assignment_status:
        # Repeated, as the spec's array parameter (the emulator also takes Twilio's comma-separated form).
        query["AssignmentStatus"] = [STATUS_TO_REST[s] for s in req.assignment_status if s in STATUS_TO_REST]
    return list_call(_collection(req.workspace_sid), query, req.page_size, req.page_token)


def create_call(req: svc.CreateTaskRequest) -> RestCall:
    form = {**set_params(req, _CREATE_FIELDS), **present_params(req, _CREATE_OPTIONAL)}
    if req.HasField("virtual_start_time"):
        form["VirtualStartTime"] = timestamp_text(req.virtual_start_time)
    return RestCall("POST", _collection(req.workspace_sid), form=form)


def update_call(req: svc.UpdateTaskRequest) -> RestCall:
    form = present_params(req, _UPDATE_FIELDS)
    if req.assignment_status in STATUS_TO_REST:
        form["AssignmentStatus"] = STATUS_TO_REST[req.assignment_status]
    if req.HasField("virtual_start_time"):
        form["VirtualStartTime"] = timestamp_text(req.virtual_start_time)
    return RestCall("POST", f"{_collection(req.workspace_sid)}/{req.sid}", form=form, headers=if_match(req.etag))


def delete_call(req: svc.DeleteTaskRequest) -> RestCall:
    return RestCall("DELETE", f"{_collection(req.workspace_sid)}/{req.sid}", headers=if_match(req.etag))


def task_from_json(data: Mapping[str, Any], etag: str | None = None) -> task_pb2.Task:
    attributes = attributes_text(data.get("attributes"))
    msg = task_pb2.Task(
        account_sid=data.get("account_sid") or "",
        age=data.get("age") or 0,
        assignment_status=_STATUS_FROM_REST.get(data.get("assignment_status") or "", _Status.ASSIGNMENT_STATUS_UNSPECIFIED),
        attributes=attributes,
        addons=attributes_text(data.get("addons")),
        priority=data.get("priority") or 0,
        reason=data.get("reason") or "",
        sid=data.get("sid") or "",
        task_queue_sid=data.get("task_queue_sid") or "",
        task_queue_friendly_name=data.get("task_queue_friendly_name") or "",
        task_channel_sid=data.get("task_channel_sid") or "",
        task_channel_unique_name=data.get("task_channel_unique_name") or "",
        timeout=data.get("timeout") or 0,
        workflow_sid=data.get("workflow_sid") or "",
        workflow_friendly_name=data.get("workflow_friendly_name") or "",
        workspace_sid=data.get("workspace_sid") or "",
        url=data.get("url") or "",
        links=data.get("links") or {},
        ignore_capacity=bool(data.get("ignore_capacity")),
        routing_target=data.get("routing_target") or "",
        etag=etag or "",
    )
    set_struct_from_json(msg.attributes_struct, attributes)
    for name in ("date_created", "date_updated", "task_queue_entered_date", "virtual_start_time"):
        set_timestamp(getattr(msg, name), data.get(name))
    return msg


def list_response(body: Mapping[str, Any]) -> svc.ListTasksResponse:
    return svc.ListTasksResponse(
        tasks=[task_from_json(item) for item in body.get("tasks") or ()], next_page_token=next_token(body)
    )
