"""EventService's GetEvent and ListEvents as REST calls, and the list's reply as a ListEventsResponse."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from taskrouter.gateway.v1 import event_service_pb2 as svc

from .events import event_from_rest
from .paging import list_call, next_token
from .rest_call import RestCall
from .values import set_params
from .windows import window_params

# Request field -> Twilio query parameter, for ListEvents' plain string filters (the Event Resource page).
_STRING_FILTERS = (
    ("event_type", "EventType"),
    ("reservation_sid", "ReservationSid"),
    ("task_queue_sid", "TaskQueueSid"),
    ("task_sid", "TaskSid"),
    ("worker_sid", "WorkerSid"),
    ("workflow_sid", "WorkflowSid"),
    ("task_channel", "TaskChannel"),
    ("sid", "Sid"),
)


def _collection(workspace_sid: str) -> str:
    return f"/v1/Workspaces/{workspace_sid}/Events"


def get_event_call(req: svc.GetEventRequest) -> RestCall:
    return RestCall("GET", f"{_collection(req.workspace_sid)}/{req.sid}")


def list_events_call(req: svc.ListEventsRequest) -> RestCall:
    query = {**set_params(req, _STRING_FILTERS), **window_params(req)}
    return list_call(_collection(req.workspace_sid), query, req.page_size, req.page_token)


def list_events_response(body: Mapping[str, Any]) -> svc.ListEventsResponse:
    return svc.ListEventsResponse(
        events=[event_from_rest(item) for item in body.get("events") or () if isinstance(item, Mapping)],
        next_page_token=next_token(body),
    )
