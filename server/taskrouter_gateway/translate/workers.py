"""WorkerService requests and Worker resources."""

from __future__ import annotations

from typing import Any, Mapping

from taskrouter.gateway.v1 import worker_pb2, worker_service_pb2 as svc

from .paging import list_call, next_token
from .rest_call import RestCall
from .values import attributes_text, if_match, set_params, set_struct_from_json, set_timestamp

# Request field -> Twilio query parameter, for the plain string filters of ListWorkers.
_STRING_FILTERS = (
    ("activity_name", "ActivityName"),
    ("activity_sid", "ActivitySid"),
    ("friendly_name", "FriendlyName"),
    ("target_workers_expression", "TargetWorkersExpression"),
    ("task_queue_name", "TaskQueueName"),
    ("task_queue_sid", "TaskQueueSid"),
    ("ordering", "Ordering"),
)


def _collection(workspace_sid: str) -> str:
    return f"/v1/Workspaces/{workspace_sid}/Workers"


def get_call(req: svc.GetWorkerRequest) -> RestCall:
    return RestCall("GET", f"{_collection(req.workspace_sid)}/{req.sid}")


def list_call_for(req: svc.ListWorkersRequest) -> RestCall:
    query = set_params(req, _STRING_FILTERS)
    if req.HasField("available"):
        query["Available"] = req.available
    return list_call(_collection(req.workspace_sid), query, req.page_size, req.page_token)


def create_call(req: svc.CreateWorkerRequest) -> RestCall:
    form: dict[str, object] = {"FriendlyName": req.friendly_name}
    if req.activity_sid:
        form["ActivitySid"] = req.activity_sid
    if req.attributes:
        form["Attributes"] = req.attributes
    return RestCall("POST", _collection(req.workspace_sid), form=form)


def update_call(req: svc.UpdateWorkerRequest) -> RestCall:
    form: dict[str, object] = {}
    if req.HasField("activity_sid"):
        form["ActivitySid"] = req.activity_sid
    if req.HasField("attributes"):
        form["Attributes"] = req.attributes
    if req.HasField("friendly_name"):
        form["FriendlyName"] = req.friendly_name
    if req.HasField("reject_pending_reservations"):
        form["RejectPendingReservations"] = req.reject_pending_reservations
    return RestCall(
        "POST", f"{_collection(req.workspace_sid)}/{req.sid}", form=form, headers=if_match(req.etag)
    )


def delete_call(req: svc.DeleteWorkerRequest) -> RestCall:
    return RestCall("DELETE", f"{_collection(req.workspace_sid)}/{req.sid}", headers=if_match(req.etag))


def worker_from_json(data: Mapping[str, Any], etag: str | None = None) -> worker_pb2.Worker:
    attributes = attributes_text(data.get("attributes"))
    msg = worker_pb2.Worker(
        account_sid=data.get("account_sid") or "",
        activity_name=data.get("activity_name") or "",
        activity_sid=data.get("activity_sid") or "",
        attributes=attributes,
        available=bool(data.get("available")),
        friendly_name=data.get("friendly_name") or "",
        sid=data.get("sid") or "",
        workspace_sid=data.get("workspace_sid") or "",
        url=data.get("url") or "",
        links=data.get("links") or {},
        etag=etag or "",
    )
    set_struct_from_json(msg.attributes_struct, attributes)
    set_timestamp(msg.date_created, data.get("date_created"))
    set_timestamp(msg.date_status_changed, data.get("date_status_changed"))
    set_timestamp(msg.date_updated, data.get("date_updated"))
    return msg


def list_response(body: Mapping[str, Any]) -> svc.ListWorkersResponse:
    return svc.ListWorkersResponse(
        workers=[worker_from_json(item) for item in body.get("workers") or ()],
        next_page_token=next_token(body),
    )
