"""ReservationService requests (the instruction oneof becomes Twilio's flat form fields) and Reservation,
WorkerChannel resources (WorkerService's channel RPCs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from taskrouter.gateway.v1 import reservation_pb2
from taskrouter.gateway.v1 import reservation_service_pb2 as svc
from taskrouter.gateway.v1 import worker_service_pb2 as wsvc

from .paging import list_call, next_token
from .rest_call import RestCall
from .values import if_match, present_params, set_timestamp

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

def _enum_words(enum: Any, prefix: str, words: dict[str, str] | None = None) -> dict[int, str]:
    """Enum number -> Twilio's word: the value name after the prefix, lower-case, unless `words` says else."""
    out: dict[int, str] = {}
    for name, number in enum.items():
        suffix = name.removeprefix(prefix)
        if suffix != "UNSPECIFIED":
            out[number] = (words or {}).get(suffix, suffix.lower())
    return out


# Enum number -> Twilio's word, per enum type (the spec's spellings: "onEnter", "record-from-start", ...).
HTTP_METHODS = _enum_words(svc.HttpMethod, "HTTP_METHOD_", {"GET": "GET", "POST": "POST"})
CALL_STATUS_EVENTS = _enum_words(svc.CallStatusEvent, "CALL_STATUS_EVENT_")
CONFERENCE_EVENTS = _enum_words(svc.ConferenceEvent, "CONFERENCE_EVENT_")
BEEPS = _enum_words(svc.ConferenceBeep, "CONFERENCE_BEEP_", {"ON_ENTER": "onEnter", "ON_EXIT": "onExit"})
CONFERENCE_RECORDS = _enum_words(svc.ConferenceRecord, "CONFERENCE_RECORD_",
                                 {"RECORD_FROM_START": "record-from-start", "DO_NOT_RECORD": "do-not-record"})
CONFERENCE_TRIMS = _enum_words(svc.ConferenceTrim, "CONFERENCE_TRIM_",
                               {"TRIM_SILENCE": "trim-silence", "DO_NOT_TRIM": "do-not-trim"})
RECORDING_CHANNELS = _enum_words(svc.RecordingChannels, "RECORDING_CHANNELS_")
JITTER_BUFFER_SIZES = _enum_words(svc.JitterBufferSize, "JITTER_BUFFER_SIZE_")
SUPERVISOR_MODES = _enum_words(svc.SupervisorMode, "SUPERVISOR_MODE_")

# A field's kind: None = a plain value, sent when non-empty; "presence" = an `optional` field, sent when set
# (so an explicit false goes out); a dict = an enum (repeated or not), sent as Twilio's words.
_Kind = None | str | dict[int, str]

# Instruction message field -> (Twilio form parameter, kind), per instruction.
_INSTRUCTION_FIELDS: dict[str, tuple[tuple[str, str, _Kind], ...]] = {
    "dequeue": (
        ("caller_id", "DequeueFrom", None),
        ("to", "DequeueTo", None),
        ("post_work_activity_sid", "DequeuePostWorkActivitySid", None),
        ("record", "DequeueRecord", None),
        ("timeout", "DequeueTimeout", None),
        ("status_callback_url", "DequeueStatusCallbackUrl", None),
        ("status_callback_events", "DequeueStatusCallbackEvent", CALL_STATUS_EVENTS),
    ),
    "call": (
        ("caller_id", "CallFrom", None),
        ("to", "CallTo", None),
        ("url", "CallUrl", None),
        ("accept", "CallAccept", None),
        ("status_callback_url", "CallStatusCallbackUrl", None),
        ("record", "CallRecord", None),
        ("timeout", "CallTimeout", None),
    ),
    "redirect": (
        ("call_sid", "RedirectCallSid", None), ("url", "RedirectUrl", None), ("accept", "RedirectAccept", None),
    ),
    "conference": (
        ("caller_id", "From", None),
        ("to", "To", None),
        ("timeout", "Timeout", None),
        ("status_callback", "StatusCallback", None),
        ("end_conference_on_exit", "EndConferenceOnExit", None),
        ("post_work_activity_sid", "PostWorkActivitySid", None),
        ("record", "Record", None),
        ("status_callback_method", "StatusCallbackMethod", HTTP_METHODS),
        ("status_callback_events", "StatusCallbackEvent", CALL_STATUS_EVENTS),
        ("muted", "Muted", "presence"),
        ("beep", "Beep", BEEPS),
        ("start_conference_on_enter", "StartConferenceOnEnter", "presence"),
        ("wait_url", "WaitUrl", None),
        ("wait_method", "WaitMethod", HTTP_METHODS),
        ("early_media", "EarlyMedia", "presence"),
        ("max_participants", "MaxParticipants", None),
        ("conference_status_callback", "ConferenceStatusCallback", None),
        ("conference_status_callback_method", "ConferenceStatusCallbackMethod", HTTP_METHODS),
        ("conference_status_callback_events", "ConferenceStatusCallbackEvent", CONFERENCE_EVENTS),
        ("conference_record", "ConferenceRecord", CONFERENCE_RECORDS),
        ("conference_trim", "ConferenceTrim", CONFERENCE_TRIMS),
        ("recording_channels", "RecordingChannels", RECORDING_CHANNELS),
        ("recording_status_callback", "RecordingStatusCallback", None),
        ("recording_status_callback_method", "RecordingStatusCallbackMethod", HTTP_METHODS),
        ("conference_recording_status_callback", "ConferenceRecordingStatusCallback", None),
        ("conference_recording_status_callback_method", "ConferenceRecordingStatusCallbackMethod", HTTP_METHODS),
        ("region", "Region", None),
        ("sip_auth_username", "SipAuthUsername", None),
        ("sip_auth_password", "SipAuthPassword", None),
        ("end_conference_on_customer_exit", "EndConferenceOnCustomerExit", "presence"),
        ("beep_on_customer_entrance", "BeepOnCustomerEntrance", "presence"),
        ("jitter_buffer_size", "JitterBufferSize", JITTER_BUFFER_SIZES),
    ),
    "supervise": (
        ("supervisor", "Supervisor", None),
        ("supervisor_mode", "SupervisorMode", SUPERVISOR_MODES),
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
    for field, param, kind in _INSTRUCTION_FIELDS[which]:
        value = getattr(body, field)
        if kind == "presence":
            if body.HasField(field):
                form[param] = value
        elif isinstance(kind, dict):
            words = [kind[v] for v in value if v in kind] if isinstance(value, Sequence) else kind.get(value)
            if words:
                form[param] = words
        elif value:
            form[param] = value
    return form


def update_call(req: svc.UpdateReservationRequest) -> RestCall:
    return RestCall("POST", f"{_collection(req)}/{req.sid}", form=instruction_form(req), headers=if_match(req.etag))


def reservation_from_json(data: Mapping[str, Any], etag: str | None = None) -> reservation_pb2.Reservation:
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
        etag=etag or "",
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
