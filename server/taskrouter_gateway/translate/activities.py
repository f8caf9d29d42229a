"""ActivityService requests and Activity resources."""

from __future__ import annotations

from typing import Any, Mapping

from taskrouter.gateway.v1 import activity_pb2, activity_service_pb2 as svc

from .paging import list_call, next_token
from .rest_call import RestCall
from .values import set_timestamp


def _collection(workspace_sid: str) -> str:
    return f"/v1/Workspaces/{workspace_sid}/Activities"


def get_call(req: svc.GetActivityRequest) -> RestCall:
    return RestCall("GET", f"{_collection(req.workspace_sid)}/{req.sid}")


def list_call_for(req: svc.ListActivitiesRequest) -> RestCall:
    query: dict[str, object] = {}
    if req.friendly_name:
        query["FriendlyName"] = req.friendly_name
    if req.HasField("available"):
        query["Available"] = req.available
    return list_call(_collection(req.workspace_sid), query, req.page_size, req.page_token)


def create_call(req: svc.CreateActivityRequest) -> RestCall:
    form: dict[str, object] = {"FriendlyName": req.friendly_name}
    if req.HasField("available"):
        form["Available"] = req.available
    return RestCall("POST", _collection(req.workspace_sid), form=form)


def update_call(req: svc.UpdateActivityRequest) -> RestCall:
    form: dict[str, object] = {}
    if req.HasField("friendly_name"):
        form["FriendlyName"] = req.friendly_name
    return RestCall("POST", f"{_collection(req.workspace_sid)}/{req.sid}", form=form)


def delete_call(req: svc.DeleteActivityRequest) -> RestCall:
    return RestCall("DELETE", f"{_collection(req.workspace_sid)}/{req.sid}")


def activity_from_json(data: Mapping[str, Any]) -> activity_pb2.Activity:
    msg = activity_pb2.Activity(
        account_sid=data.get("account_sid") or "",
        available=bool(data.get("available")),
        friendly_name=data.get("friendly_name") or "",
        sid=data.get("sid") or "",
        workspace_sid=data.get("workspace_sid") or "",
        url=data.get("url") or "",
        links=data.get("links") or {},
    )
    set_timestamp(msg.date_created, data.get("date_created"))
    set_timestamp(msg.date_updated, data.get("date_updated"))
    return msg


def list_response(body: Mapping[str, Any]) -> svc.ListActivitiesResponse:
    return svc.ListActivitiesResponse(
        activities=[activity_from_json(item) for item in body.get("activities") or ()],
        next_page_token=next_token(body),
    )
