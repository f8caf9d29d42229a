"""WorkspaceService requests and Workspace resources."""

from __future__ import annotations

from typing import Any, Mapping

from taskrouter.gateway.v1 import workspace_pb2, workspace_service_pb2 as svc

from .paging import list_call, next_token
from .rest_call import RestCall
from .values import set_timestamp

COLLECTION = "/v1/Workspaces"
_QueueOrder = workspace_pb2.Workspace.QueueOrder
_ORDER_TO_REST = {_QueueOrder.QUEUE_ORDER_FIFO: "FIFO", _QueueOrder.QUEUE_ORDER_LIFO: "LIFO"}
_ORDER_FROM_REST = {v: k for k, v in _ORDER_TO_REST.items()}

# Optional request fields of UpdateWorkspace -> Twilio form parameter; presence means "set it" (even to "").
_UPDATE_FIELDS = (
    ("default_activity_sid", "DefaultActivitySid"),
    ("event_callback_url", "EventCallbackUrl"),
    ("events_filter", "EventsFilter"),
    ("friendly_name", "FriendlyName"),
    ("multi_task_enabled", "MultiTaskEnabled"),
    ("timeout_activity_sid", "TimeoutActivitySid"),
)


def get_call(req: svc.GetWorkspaceRequest) -> RestCall:
    return RestCall("GET", f"{COLLECTION}/{req.workspace_sid}")


def list_call_for(req: svc.ListWorkspacesRequest) -> RestCall:
    query: dict[str, object] = {}
    if req.friendly_name:
        query["FriendlyName"] = req.friendly_name
    return list_call(COLLECTION, query, req.page_size, req.page_token)


def create_call(req: svc.CreateWorkspaceRequest) -> RestCall:
    form: dict[str, object] = {"FriendlyName": req.friendly_name}
    if req.event_callback_url:
        form["EventCallbackUrl"] = req.event_callback_url
    if req.events_filter:
        form["EventsFilter"] = req.events_filter
    if req.HasField("multi_task_enabled"):
        form["MultiTaskEnabled"] = req.multi_task_enabled
    if req.template:
        form["Template"] = req.template
    if req.prioritize_queue_order in _ORDER_TO_REST:
        form["PrioritizeQueueOrder"] = _ORDER_TO_REST[req.prioritize_queue_order]
    return RestCall("POST", COLLECTION, form=form)


def update_call(req: svc.UpdateWorkspaceRequest) -> RestCall:
    form: dict[str, object] = {}
    for field, param in _UPDATE_FIELDS:
        if req.HasField(field):  # type: ignore[arg-type]  # names from _UPDATE_FIELDS, checked by tests
            form[param] = getattr(req, field)
    if req.prioritize_queue_order in _ORDER_TO_REST:
        form["PrioritizeQueueOrder"] = _ORDER_TO_REST[req.prioritize_queue_order]
    return RestCall("POST", f"{COLLECTION}/{req.workspace_sid}", form=form)


def event_callback_call(workspace_sid: str, callback_url: str, event_types: list[str] | None) -> RestCall:
    """Points a workspace's callbacks at `callback_url`. event_types: [] clears EventsFilter (every type is
    sent); None leaves the workspace's filter as it is."""
    form: dict[str, object] = {"EventCallbackUrl": callback_url}
    if event_types is not None:
        form["EventsFilter"] = ",".join(event_types)
    return RestCall("POST", f"{COLLECTION}/{workspace_sid}", form=form)


def delete_call(req: svc.DeleteWorkspaceRequest) -> RestCall:
    return RestCall("DELETE", f"{COLLECTION}/{req.workspace_sid}")


def workspace_from_json(data: Mapping[str, Any]) -> workspace_pb2.Workspace:
    msg = workspace_pb2.Workspace(
        account_sid=data.get("account_sid") or "",
        default_activity_name=data.get("default_activity_name") or "",
        default_activity_sid=data.get("default_activity_sid") or "",
        event_callback_url=data.get("event_callback_url") or "",
        events_filter=data.get("events_filter") or "",
        friendly_name=data.get("friendly_name") or "",
        multi_task_enabled=bool(data.get("multi_task_enabled")),
        sid=data.get("sid") or "",
        timeout_activity_name=data.get("timeout_activity_name") or "",
        timeout_activity_sid=data.get("timeout_activity_sid") or "",
        prioritize_queue_order=_ORDER_FROM_REST.get(data.get("prioritize_queue_order") or "", _QueueOrder.QUEUE_ORDER_UNSPECIFIED),
        url=data.get("url") or "",
        links=data.get("links") or {},
    )
    set_timestamp(msg.date_created, data.get("date_created"))
    set_timestamp(msg.date_updated, data.get("date_updated"))
    return msg


def list_response(body: Mapping[str, Any]) -> svc.ListWorkspacesResponse:
    return svc.ListWorkspacesResponse(
        workspaces=[workspace_from_json(item) for item in body.get("workspaces") or ()],
        next_page_token=next_token(body),
    )
