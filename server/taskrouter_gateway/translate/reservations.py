"""ReservationService requests (the instruction oneof becomes Twilio's flat form fields) and Reservation,
WorkerChannel resources (WorkerService's channel RPCs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from taskrouter.gateway.v1 import reservation_pb2
from taskrouter.gateway.v1 import reservation_service_pb2 as svc
from taskrouter.gateway.v1 import worker_service_pb2 as wsvc

from .paging import list_call, next_token
from .rest_call import RestCall
from .values import present_params, set_timestamp

_Status = reservation_pb2.Reservation.Status
STATUS_TO_REST = {
    _Status.STATUS_PENDING: "pending",
    _Status.STATUS_ACCEPTED: "accepted",
    _Status.STATUS_REJECTED: "rejected",
    _Status.STATUS_TIMEOUT: "timeout",
    _Status.STATUS_CANCELED: "canceled",
    _Status.STATUS_RESCINDED: "rescinded",
    _Status.STATUS_WRAPPING: "wrapping",
    _Status.STATUS_COMPLETED: "completed",
}
_STATUS_FROM_REST = {v: k for k, v in STATUS_TO_REST.items()}

# Instruction message field -> Twilio form parameter, per instruction.
_INSTRUCTION_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "dequeue": (
        ("caller_id", "DequeueFrom"),
        ("to", "DequeueTo"),
        ("post_work_activity_sid", "DequeuePostWorkActivitySid"),
        ("record", "DequeueRecord"),
        ("timeout", "DequeueTimeout"),
        ("status_callback_url", "DequeueStatusCallbackUrl"),
    ),
    "call": (
        ("caller_id", "CallFrom"),
        ("to", "CallTo"),
        ("url", "CallUrl"),
        ("accept", "CallAccept"),
        ("status_callback_url", "CallStatusCallbackUrl"),
        ("record", "CallRecord"),
        ("timeout", "CallTimeout"),
    ),
    "redirect": (("call_sid", "RedirectCallSid"), ("url", "RedirectUrl"), ("accept", "RedirectAccept")),
    "conference": (
        ("caller_id", "From"),
        ("to", "To"),
        ("timeout", "Timeout"),
        ("status_callback", "StatusCallback"),
        ("end_conference_on_exit", "EndConferenceOnExit"),
        ("post_work_activity_sid", "PostWorkActivitySid"),
        ("record", "Record"),
    ),
}
_STATUS_INSTRUCTIONS = {"accept": "accepted", "reject": "rejected", "complete": "completed", "wrapup": "wrapping"}


def _collection(req: Any) -> str:
    base = f"/v1/Workspaces/{req.workspace_sid}"
    if req.WhichOneof("parent") == "worker_sid":
        return f"{base}/Workers/{req.worker_sid}/Reservations"
    return f"{base}/Tasks/{req.task_sid}/Reservations"


def get_call(req: svc.GetReservationRequest) -> RestCall:
    return RestCall("GET", f"{_collection(req)}/{req.sid}")


def list_call_for(req: svc.ListReservationsRequest) -> RestCall:
    query: dict[str, object] = {}
    if req.reservation_status in STATUS_TO_REST:
        query["ReservationStatus"] = STATUS_TO_REST[req.reservation_status]
    if req.filter_worker_sid:
        query["WorkerSid"] = req.filter_worker_sid
    return list_call(_collection(req), query, req.page_size, req.page_token)


def instruction_form(req: svc.UpdateReservationRequest) -> dict[str, object]:
    """Twilio's form fields for the request's instruction (empty values are not sent)."""
    which = req.WhichOneof("instruction")
    if which is None:
        return {}
    body = getattr(req, which)
    if which in _STATUS_INSTRUCTIONS:
        form: dict[str, object] = {"ReservationStatus": _STATUS_INSTRUCTIONS[which]}
        activity = getattr(body, "worker_activity_sid", "")
        if activity:
            form["WorkerActivitySid"] = activity
        return form
    form = {"Instruction": which}
    for field, param in _INSTRUCTION_FIELDS[which]:
        value = getattr(body, field)
        if value:
            form[param] = value
    return form


def update_call(req: svc.UpdateReservationRequest) -> RestCall:
    return RestCall("POST", f"{_collection(req)}/{req.sid}", form=instruction_form(req))


def reservation_from_json(data: Mapping[str, Any]) -> reservation_pb2.Reservation:
    msg = reservation_pb2.Reservation(
        account_sid=data.get("account_sid") or "",
        reservation_status=_STATUS_FROM_REST.get(data.get("reservation_status") or "", _Status.STATUS_UNSPECIFIED),
        sid=data.get("sid") or "",
        task_sid=data.get("task_sid") or "",
        worker_name=data.get("worker_name") or "",
        worker_sid=data.get("worker_sid") or "",
        workspace_sid=data.get("workspace_sid") or "",
        url=data.get("url") or "",
        links=data.get("links") or {},
    )
    set_timestamp(msg.date_created, data.get("date_created"))
    set_timestamp(msg.date_updated, data.get("date_updated"))
    return msg


def list_response(body: Mapping[str, Any]) -> svc.ListReservationsResponse:
    return svc.ListReservationsResponse(
        reservations=[reservation_from_json(item) for item in body.get("reservations") or ()],
        next_page_token=next_token(body),
    )


# ---- WorkerService's channel RPCs ----------------------------------------------------------------------


def _channels(workspace_sid: str, worker_sid: str) -> str:
    return f"/v1/Workspaces/{workspace_sid}/Workers/{worker_sid}/Channels"


def get_channel_call(req: wsvc.GetWorkerChannelRequest) -> RestCall:
    return RestCall("GET", f"{_channels(req.workspace_sid, req.worker_sid)}/{req.sid}")


def list_channels_call(req: wsvc.ListWorkerChannelsRequest) -> RestCall:
    return list_call(_channels(req.workspace_sid, req.worker_sid), {}, req.page_size, req.page_token)


def update_channel_call(req: wsvc.UpdateWorkerChannelRequest) -> RestCall:
    form = present_params(req, (("capacity", "Capacity"), ("available", "Available")))
    return RestCall("POST", f"{_channels(req.workspace_sid, req.worker_sid)}/{req.sid}", form=form)


def worker_channel_from_json(data: Mapping[str, Any]) -> reservation_pb2.WorkerChannel:
    msg = reservation_pb2.WorkerChannel(
        account_sid=data.get("account_sid") or "",
        assigned_tasks=data.get("assigned_tasks") or 0,
        available=bool(data.get("available")),
        available_capacity_percentage=data.get("available_capacity_percentage") or 0,
        configured_capacity=data.get("configured_capacity") or 0,
        sid=data.get("sid") or "",
        task_channel_sid=data.get("task_channel_sid") or "",
        task_channel_unique_name=data.get("task_channel_unique_name") or "",
        worker_sid=data.get("worker_sid") or "",
        workspace_sid=data.get("workspace_sid") or "",
        url=data.get("url") or "",
    )
    set_timestamp(msg.date_created, data.get("date_created"))
    set_timestamp(msg.date_updated, data.get("date_updated"))
    return msg


def channels_response(body: Mapping[str, Any]) -> wsvc.ListWorkerChannelsResponse:
    return wsvc.ListWorkerChannelsResponse(
        worker_channels=[worker_channel_from_json(item) for item in body.get("channels") or ()],
        next_page_token=next_token(body),
    )
