"""WorkflowService requests and Workflow resources, with the typed view of the Configuration JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from taskrouter.gateway.v1 import workflow_pb2
from taskrouter.gateway.v1 import workflow_service_pb2 as svc

from .paging import list_call, next_token
from .rest_call import RestCall
from .values import present_params, set_timestamp

_TARGET_TEXT = ("expression", "skip_if", "order_by", "known_worker_sid", "known_worker_friendly_name")
_UPDATE_FIELDS = (
    ("friendly_name", "FriendlyName"),
    ("assignment_callback_url", "AssignmentCallbackUrl"),
    ("fallback_assignment_callback_url", "FallbackAssignmentCallbackUrl"),
    ("task_reservation_timeout", "TaskReservationTimeout"),
    ("re_evaluate_tasks", "ReEvaluateTasks"),
)


def _collection(workspace_sid: str) -> str:
    return f"/v1/Workspaces/{workspace_sid}/Workflows"


def _target_json(target: workflow_pb2.WorkflowTarget) -> dict[str, Any]:
    out: dict[str, Any] = {"queue": target.queue}
    for name in _TARGET_TEXT:
        if getattr(target, name):
            out[name] = getattr(target, name)
    if target.HasField("priority"):
        out["priority"] = target.priority
    if target.HasField("timeout"):
        out["timeout"] = target.timeout
    return out


def configuration_json(routing: workflow_pb2.TaskRouting) -> str:
    """The Configuration JSON for a typed TaskRouting."""
    body: dict[str, Any] = {
        "filters": [
            {
                "filter_friendly_name": f.filter_friendly_name,
                "expression": f.expression,
                "targets": [_target_json(t) for t in f.targets],
            }
            for f in routing.filters
        ]
    }
    if routing.HasField("default_filter"):
        body["default_filter"] = _target_json(routing.default_filter)
    return orjson.dumps({"task_routing": body}).decode()


def _configuration(req: svc.CreateWorkflowRequest | svc.UpdateWorkflowRequest) -> str | None:
    which = req.WhichOneof("configuration_source")
    if which == "configuration":
        return req.configuration
    if which == "task_routing":
        return configuration_json(req.task_routing)
    return None


def get_call(req: svc.GetWorkflowRequest) -> RestCall:
    return RestCall("GET", f"{_collection(req.workspace_sid)}/{req.sid}")


def list_call_for(req: svc.ListWorkflowsRequest) -> RestCall:
    query: dict[str, object] = {"FriendlyName": req.friendly_name} if req.friendly_name else {}
    return list_call(_collection(req.workspace_sid), query, req.page_size, req.page_token)


def create_call(req: svc.CreateWorkflowRequest) -> RestCall:
    form: dict[str, object] = {"FriendlyName": req.friendly_name, "Configuration": _configuration(req) or ""}
    if req.assignment_callback_url:
        form["AssignmentCallbackUrl"] = req.assignment_callback_url
    if req.fallback_assignment_callback_url:
        form["FallbackAssignmentCallbackUrl"] = req.fallback_assignment_callback_url
    if req.HasField("task_reservation_timeout"):
        form["TaskReservationTimeout"] = req.task_reservation_timeout
    return RestCall("POST", _collection(req.workspace_sid), form=form)


def update_call(req: svc.UpdateWorkflowRequest) -> RestCall:
    form = present_params(req, _UPDATE_FIELDS)
    configuration = _configuration(req)
    if configuration is not None:
        form["Configuration"] = configuration
    return RestCall("POST", f"{_collection(req.workspace_sid)}/{req.sid}", form=form)


def delete_call(req: svc.DeleteWorkflowRequest) -> RestCall:
    return RestCall("DELETE", f"{_collection(req.workspace_sid)}/{req.sid}")


def _fill_target(target: workflow_pb2.WorkflowTarget, data: Mapping[str, Any]) -> None:
    target.queue = str(data.get("queue") or "")
    for name in _TARGET_TEXT:
        value = data.get(name)
        if isinstance(value, str):
            setattr(target, name, value)
    for name in ("priority", "timeout"):
        value = data.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and -(2**31) <= value < 2**31:
            setattr(target, name, value)


def fill_task_routing(target: workflow_pb2.TaskRouting, configuration: str) -> bool:
    """The typed view of a Configuration JSON; False (target untouched) when it is not one."""
    try:
        routing = orjson.loads(configuration).get("task_routing")
    except (orjson.JSONDecodeError, AttributeError):
        return False
    if not isinstance(routing, dict):
        return False
    for raw in routing.get("filters") or ():
        if not isinstance(raw, dict):
            continue
        flt = target.filters.add(
            filter_friendly_name=str(raw.get("filter_friendly_name") or ""), expression=str(raw.get("expression") or "")
        )
        for raw_target in raw.get("targets") or ():
            if isinstance(raw_target, dict):
                _fill_target(flt.targets.add(), raw_target)
    if isinstance(routing.get("default_filter"), dict):
        _fill_target(target.default_filter, routing["default_filter"])
    target.SetInParent()
    return True


def workflow_from_json(data: Mapping[str, Any]) -> workflow_pb2.Workflow:
    configuration = data.get("configuration") or ""
    msg = workflow_pb2.Workflow(
        account_sid=data.get("account_sid") or "",
        assignment_callback_url=data.get("assignment_callback_url") or "",
        configuration=configuration,
        document_content_type=data.get("document_content_type") or "",
        fallback_assignment_callback_url=data.get("fallback_assignment_callback_url") or "",
        friendly_name=data.get("friendly_name") or "",
        sid=data.get("sid") or "",
        task_reservation_timeout=data.get("task_reservation_timeout") or 0,
        workspace_sid=data.get("workspace_sid") or "",
        url=data.get("url") or "",
        links=data.get("links") or {},
    )
    if configuration:
        fill_task_routing(msg.task_routing, configuration)
    set_timestamp(msg.date_created, data.get("date_created"))
    set_timestamp(msg.date_updated, data.get("date_updated"))
    return msg


def list_response(body: Mapping[str, Any]) -> svc.ListWorkflowsResponse:
    return svc.ListWorkflowsResponse(
        workflows=[workflow_from_json(item) for item in body.get("workflows") or ()],
        next_page_token=next_token(body),
    )
