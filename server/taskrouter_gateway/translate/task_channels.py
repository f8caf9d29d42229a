"""TaskChannelService requests and TaskChannel resources."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from taskrouter.gateway.v1 import task_channel_pb2
from taskrouter.gateway.v1 import task_channel_service_pb2 as svc

from .paging import list_call, next_token
from .rest_call import RestCall
from .values import present_params, set_timestamp

_UPDATE_FIELDS = (("friendly_name", "FriendlyName"), ("channel_optimized_routing", "ChannelOptimizedRouting"))


def _collection(workspace_sid: str) -> str:
    return f"/v1/Workspaces/{workspace_sid}/TaskChannels"


def get_call(req: svc.GetTaskChannelRequest) -> RestCall:
    return RestCall("GET", f"{_collection(req.workspace_sid)}/{req.sid}")


def list_call_for(req: svc.ListTaskChannelsRequest) -> RestCall:
    return list_call(_collection(req.workspace_sid), {}, req.page_size, req.page_token)


def create_call(req: svc.CreateTaskChannelRequest) -> RestCall:
    form: dict[str, object] = {"FriendlyName": req.friendly_name, "UniqueName": req.unique_name}
    if req.HasField("channel_optimized_routing"):
        form["ChannelOptimizedRouting"] = req.channel_optimized_routing
    return RestCall("POST", _collection(req.workspace_sid), form=form)


def update_call(req: svc.UpdateTaskChannelRequest) -> RestCall:
    return RestCall("POST", f"{_collection(req.workspace_sid)}/{req.sid}", form=present_params(req, _UPDATE_FIELDS))


def delete_call(req: svc.DeleteTaskChannelRequest) -> RestCall:
    return RestCall("DELETE", f"{_collection(req.workspace_sid)}/{req.sid}")


def task_channel_from_json(data: Mapping[str, Any]) -> task_channel_pb2.TaskChannel:
    msg = task_channel_pb2.TaskChannel(
        account_sid=data.get("account_sid") or "",
        friendly_name=data.get("friendly_name") or "",
        sid=data.get("sid") or "",
        unique_name=data.get("unique_name") or "",
        workspace_sid=data.get("workspace_sid") or "",
        url=data.get("url") or "",
        links=data.get("links") or {},
    )
    if data.get("channel_optimized_routing") is not None:
        msg.channel_optimized_routing = bool(data["channel_optimized_routing"])
    set_timestamp(msg.date_created, data.get("date_created"))
    set_timestamp(msg.date_updated, data.get("date_updated"))
    return msg


def list_response(body: Mapping[str, Any]) -> svc.ListTaskChannelsResponse:
    return svc.ListTaskChannelsResponse(
        task_channels=[task_channel_from_json(item) for item in body.get("channels") or ()],
        next_page_token=next_token(body),
    )
