"""TaskRouter Events, from the EventCallbackUrl webhook and from the Events REST API, as one Event. Pure.

Both paths fill the same typed sub-messages (task, worker, task_channel, ...) from the same snake_case keys,
so an event stored from its callback and the same event read back from REST carry equal typed data, and
de-duplication by `sid` lines up.

Decisions for callbacks (`event_from_callback`):
- Required: EventType, Sid (an EV sid: the event log de-duplicates on it, so a callback without one, as
  some older or hand-made senders post, is rejected and the webhook answers 400), WorkspaceSid (a WS
  sid: the log and the streams are per workspace). AccountSid, when sent, must be an AC sid.
- Time: TimestampMs (integer milliseconds) is preferred, else Timestamp (epoch seconds, fraction allowed).
  Either one, when sent non-empty, must be valid. Neither sent (or both empty): `received_ms` is used.
- Repeated form keys: the last value wins everywhere (raw_parameters is a map; it keeps that last value).
  A repeat with a *different* value of an envelope field (EventType, Sid, WorkspaceSid, ...) is rejected:
  the event's identity would be a guess.
- Typed fields are parsed leniently: an integer or boolean that does not parse is left unset in its
  sub-message and is still in raw_parameters and event_data. Booleans are "true"/"false" (any case).
- event_data is the snake_case of every parameter except the envelope ones that have their own Event
  property (EventType, AccountSid, EventDescription, ResourceType, ResourceSid, Timestamp, TimestampMs,
  Sid). WorkspaceSid and WorkspaceName stay in it, as Twilio's REST event_data shows them (the Event Resource page).
- resource_type takes the REST form: lower-case, separators dropped ("Worker" -> "worker",
  "TaskQueue" -> "taskqueue"). url/resource_url are built like Twilio's, resource_url only when the type
  is known and resource_sid is a SID of that type (a Reservation's also needs the TaskSid).
- OperatingUnitSid belongs to the TaskQueue on task-queue.* events, else to the Worker when the event
  carries Worker fields; otherwise it stays only in event_data.
- Unknown event types pass through: every field lands in raw_parameters and event_data, and the ones
  whose names match a typed field are typed too.
- Callbacks carry no actor or source: actor_*, source and source_ip_address stay empty.

REST (`event_from_rest`): properties as returned; raw_parameters stays empty (there was no form);
the workspace sub-message always gets the event's workspace_sid, as a callback's does.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson
from google.protobuf import struct_pb2, timestamp_pb2
from google.protobuf.descriptor import FieldDescriptor
from taskrouter.gateway.v1 import event_pb2

from ..validation import is_sid
from .values import fill_struct, parse_date

TASKROUTER_BASE_URL = "https://taskrouter.twilio.com"

# Digit counts are bounded before int(): no int64 needs more, and Python refuses very long ones.
_INT = re.compile(r"[+-]?[0-9]{1,19}")
_MILLIS = re.compile(r"[0-9]{1,15}")
_SECONDS = re.compile(r"[0-9]{1,12}(?:\.[0-9]+)?")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z.
_MAX_MS = 253_402_300_799_999
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# Callback parameters that become Event properties of their own rather than event_data.
ENVELOPE_PARAMETERS = (
    "EventType",
    "AccountSid",
    "EventDescription",
    "ResourceType",
    "ResourceSid",
    "Timestamp",
    "TimestampMs",
    "Sid",
)
# A repeat of one of these with a different value makes the event's identity ambiguous.
_IDENTITY_PARAMETERS = frozenset(ENVELOPE_PARAMETERS) | {"WorkspaceSid"}

# Normalised resource_type -> (SID prefix, collection under the Workspace URL).
_RESOURCES: dict[str, tuple[str, str]] = {
    "activity": ("WA", "Activities"),
    "task": ("WT", "Tasks"),
    "taskchannel": ("TC", "TaskChannels"),
    "taskqueue": ("WQ", "TaskQueues"),
    "worker": ("WK", "Workers"),
    "workflow": ("WW", "Workflows"),
}

_SUB_MESSAGES = ("task", "worker", "task_channel", "task_queue", "workflow", "reservation", "workspace", "activity")
_SHARED_KEY = "operating_unit_sid"  # the one key with two homes: WorkerData and TaskQueueData


class MalformedCallback(ValueError):
    """The callback cannot become an Event; `reason` says why, `parameter` names the form field at fault."""

    def __init__(self, reason: str, parameter: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.parameter = parameter


def _typed_homes() -> dict[str, tuple[str, FieldDescriptor]]:
    """snake_case key -> (Event sub-message field, its field), read off the proto so they cannot drift."""
    homes: dict[str, tuple[str, FieldDescriptor]] = {}
    for sub in _SUB_MESSAGES:
        sub_type = event_pb2.Event.DESCRIPTOR.fields_by_name[sub].message_type
        assert sub_type is not None, sub
        for field in sub_type.fields:
            if field.type == FieldDescriptor.TYPE_MESSAGE or field.name == _SHARED_KEY:
                continue  # *_struct views are derived; operating_unit_sid is placed by context
            homes[field.name] = (sub, field)
    return homes


_HOMES = _typed_homes()
# Typed string field -> its parsed "<name>_struct" sibling (attributes fields), looked up once, not per event.
_STRUCT_SIBLINGS: dict[FieldDescriptor, str] = {
    field: f"{field.name}_struct"
    for _, field in _HOMES.values()
    if field.containing_type is not None and f"{field.name}_struct" in field.containing_type.fields_by_name
}
_WORKER_KEYS = frozenset(key for key, (sub, _) in _HOMES.items() if sub == "worker")


@functools.lru_cache(maxsize=1024)  # the same few dozen names arrive with every callback; the regex is costly
def snake_case(name: str) -> str:
    """A callback parameter's event_data key: "TaskQueueSid" -> "task_queue_sid"."""
    return _CAMEL_BOUNDARY.sub("_", name).lower()


def normalise_resource_type(value: str) -> str:
    """REST form of a resource type: "Worker" -> "worker", "TaskQueue"/"task-queue" -> "taskqueue"."""
    return re.sub(r"[\s_-]", "", value).lower()


# --- callbacks ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallbackEnvelope:
    """A validated callback: its parameters (last value wins) and the identity the event log indexes."""

    raw: dict[str, str]
    sid: str
    workspace_sid: str
    event_type: str
    resource_sid: str
    event_date_ms: int


def callback_envelope(
    params: Sequence[tuple[str, str]] | Mapping[str, str], *, received_ms: int
) -> CallbackEnvelope:
    """Every check a callback must pass to be stored, and nothing more (the webhook's hot path).

    Raises MalformedCallback. What passes always builds an Event: event_from_envelope never raises.
    """
    raw = _collect(params.items() if isinstance(params, Mapping) else params)

    event_type = raw.get("EventType", "").strip()
    if not event_type:
        raise MalformedCallback("missing EventType", "EventType")
    if not event_type.isprintable() or any(ch.isspace() for ch in event_type):
        raise MalformedCallback(f"EventType {_show(event_type)} is not an event type identifier", "EventType")
    sid = raw.get("Sid", "")
    if not sid:
        raise MalformedCallback("missing Sid: the event's EV sid is needed to de-duplicate it", "Sid")
    if not is_sid(sid, "EV"):
        raise MalformedCallback(f"Sid {_show(sid)} is not an Event sid (EV followed by 32 hex digits)", "Sid")
    workspace_sid = raw.get("WorkspaceSid", "")
    if not workspace_sid:
        raise MalformedCallback("missing WorkspaceSid", "WorkspaceSid")
    if not is_sid(workspace_sid, "WS"):
        raise MalformedCallback(
            f"WorkspaceSid {_show(workspace_sid)} is not a Workspace sid (WS followed by 32 hex digits)", "WorkspaceSid"
        )
    account_sid = raw.get("AccountSid", "")
    if account_sid and not is_sid(account_sid, "AC"):
        raise MalformedCallback(
            f"AccountSid {_show(account_sid)} is not an Account sid (AC followed by 32 hex digits)", "AccountSid"
        )
    event_date_ms = _callback_time_ms(raw, received_ms)
    return CallbackEnvelope(raw, sid, workspace_sid, event_type, raw.get("ResourceSid", ""), event_date_ms)


def event_from_envelope(envelope: CallbackEnvelope, *, base_url: str = TASKROUTER_BASE_URL) -> event_pb2.Event:
    """The Event of a validated callback."""
    raw = envelope.raw
    sid, workspace_sid, event_date_ms = envelope.sid, envelope.workspace_sid, envelope.event_date_ms
    resource_type = normalise_resource_type(raw.get("ResourceType", ""))
    resource_sid = envelope.resource_sid
    event = event_pb2.Event(
        sid=sid,
        account_sid=raw.get("AccountSid", ""),
        workspace_sid=workspace_sid,
        event_type=envelope.event_type,
        resource_type=resource_type,
        resource_sid=resource_sid,
        description=raw.get("EventDescription", ""),
        event_date_ms=event_date_ms,
        url=event_url(base_url, workspace_sid, sid),
    )
    event.event_date.CopyFrom(_timestamp_from_ms(event_date_ms))
    event.raw_parameters.update(raw)

    data: dict[str, str] = {}
    for name, value in raw.items():
        if name not in ENVELOPE_PARAMETERS:
            data[snake_case(name)] = value
    if data:
        fill_struct(event.event_data, data)
        event.event_data_json = orjson.dumps(data).decode()
    _fill_typed(event, data)
    event.resource_url = resource_url(base_url, workspace_sid, resource_type, resource_sid, event.task.task_sid)
    return event


def event_from_callback(
    params: Sequence[tuple[str, str]] | Mapping[str, str],
    *,
    received_ms: int,
    base_url: str = TASKROUTER_BASE_URL,
) -> event_pb2.Event:
    """One EventCallbackUrl POST's form fields as an Event. Raises MalformedCallback."""
    return event_from_envelope(callback_envelope(params, received_ms=received_ms), base_url=base_url)


def _collect(pairs: Iterable[tuple[Any, Any]]) -> dict[str, str]:
    raw: dict[str, str] = {}
    for pair in pairs:
        try:
            name, value = pair
        except (TypeError, ValueError):
            raise MalformedCallback(f"form fields must be (name, value) pairs, got {_show(pair)}") from None
        if not isinstance(name, str) or not name:
            raise MalformedCallback(f"form field names must be non-empty text, got {_show(name)}")
        if not isinstance(value, str):
            raise MalformedCallback(f"form field {_show(name)} is not text (got {type(value).__name__})", name)
        if not (_is_unicode(name) and _is_unicode(value)):
            raise MalformedCallback(f"form field {_show(name)} holds text that is not valid Unicode", name)
        if name in _IDENTITY_PARAMETERS and name in raw and raw[name] != value:
            raise MalformedCallback(f"{name} is repeated with different values", name)
        raw[name] = value
    return raw


def _show(value: Any) -> str:
    """A sender's value quoted in an error message, cut short: messages go back in 400s and into logs."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_unicode(text: str) -> bool:
    """False for lone surrogates, which neither protobuf strings nor JSON can carry."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _callback_time_ms(raw: Mapping[str, str], received_ms: int) -> int:
    """TimestampMs, else Timestamp (seconds, fraction allowed), else the time of receipt."""
    millis_text = raw.get("TimestampMs", "").strip()
    seconds_text = raw.get("Timestamp", "").strip()
    millis = from_seconds = None
    if millis_text:
        millis = int(millis_text) if _MILLIS.fullmatch(millis_text) else None
        if millis is None or millis > _MAX_MS:
            raise MalformedCallback(
                f"TimestampMs {_show(millis_text)} is not a time in milliseconds since the Unix epoch", "TimestampMs"
            )
    if seconds_text:
        # Validated even when TimestampMs wins: a garbled one means a sender we should not trust to be right.
        if _SECONDS.fullmatch(seconds_text):
            whole, _, fraction = seconds_text.partition(".")
            from_seconds = int(whole) * 1000 + int((fraction + "000")[:3])
        if from_seconds is None or from_seconds > _MAX_MS:
            raise MalformedCallback(
                f"Timestamp {_show(seconds_text)} is not a time in seconds since the Unix epoch", "Timestamp"
            )
    if millis is not None:
        return millis
    if from_seconds is not None:
        return from_seconds
    return received_ms


def _timestamp_from_ms(ms: int) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=ms // 1000, nanos=(ms % 1000) * 1_000_000)


def event_url(base_url: str, workspace_sid: str, sid: str) -> str:
    return f"{base_url}/v1/Workspaces/{workspace_sid}/Events/{sid}"


def resource_url(base_url: str, workspace_sid: str, resource_type: str, resource_sid: str, task_sid: str = "") -> str:
    """Twilio's URL of the resource an event is about; "" when it cannot be derived with certainty."""
    workspace = f"{base_url}/v1/Workspaces/{workspace_sid}"
    if resource_type == "workspace":
        return workspace if resource_sid == workspace_sid else ""
    if resource_type == "reservation":
        if is_sid(resource_sid, "WR") and is_sid(task_sid, "WT"):
            return f"{workspace}/Tasks/{task_sid}/Reservations/{resource_sid}"
        return ""
    known = _RESOURCES.get(resource_type)
    if known is None or not is_sid(resource_sid, known[0]):
        return ""
    return f"{workspace}/{known[1]}/{resource_sid}"


# --- typed sub-messages (shared by both paths) ---------------------------------------------------------


def _fill_typed(event: event_pb2.Event, data: Mapping[str, Any]) -> None:
    for key, value in data.items():
        home = _HOMES.get(key)
        if home is not None:
            _set_field(getattr(event, home[0]), home[1], value)
    if _SHARED_KEY in data:
        owner = _operating_unit_owner(event.event_type, data)
        if owner is not None:
            getattr(event, owner).operating_unit_sid = _text(data[_SHARED_KEY])


def _operating_unit_owner(event_type: str, data: Mapping[str, Any]) -> str | None:
    if event_type.startswith("task-queue."):
        return "task_queue"
    if event_type.startswith("worker.") or not _WORKER_KEYS.isdisjoint(data):
        return "worker"
    return None


def _set_field(sub: Any, field: FieldDescriptor, value: Any) -> None:
    """Sets one typed field; the sub-message counts as carried even when the value does not parse."""
    if value is None:
        return  # REST shows absent values as null: not carried
    sub.SetInParent()
    if field.type == FieldDescriptor.TYPE_INT64:
        number = _lenient_int(value)
        if number is not None:
            setattr(sub, field.name, number)
    elif field.type == FieldDescriptor.TYPE_BOOL:
        flag = _lenient_bool(value)
        if flag is not None:
            setattr(sub, field.name, flag)
    else:
        text = _text(value)
        setattr(sub, field.name, text)
        struct_name = _STRUCT_SIBLINGS.get(field)
        if struct_name is not None:
            _set_struct(getattr(sub, struct_name), text)


def _set_struct(target: struct_pb2.Struct, text: str) -> None:
    """The parsed view of a JSON attributes string; set (even when "{}") only for a JSON object."""
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        return
    if isinstance(parsed, dict):
        target.SetInParent()
        fill_struct(target, parsed)


def _lenient_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        value = int(value) if math.isfinite(value) and value.is_integer() else None
    elif isinstance(value, str):
        stripped = value.strip()
        value = int(stripped) if _INT.fullmatch(stripped) else None
    if isinstance(value, int) and _INT64_MIN <= value <= _INT64_MAX:
        return value
    return None


def _lenient_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return {"true": True, "false": False}.get(value.strip().lower())
    return None


def _text(value: Any) -> str:
    """A REST value as the text a callback would have carried for it."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (int, float)):
        return str(value)
    return orjson.dumps(value).decode()


# --- REST ----------------------------------------------------------------------------------------------


def event_from_rest(data: Mapping[str, Any]) -> event_pb2.Event:
    """One item of GET .../Events (or the body of GET .../Events/{Sid}) as an Event."""
    event = event_pb2.Event(
        account_sid=_str(data.get("account_sid")),
        actor_sid=_str(data.get("actor_sid")),
        actor_type=_str(data.get("actor_type")),
        actor_url=_str(data.get("actor_url")),
        description=_str(data.get("description")),
        event_type=_str(data.get("event_type")),
        resource_sid=_str(data.get("resource_sid")),
        resource_type=normalise_resource_type(_str(data.get("resource_type"))),
        resource_url=_str(data.get("resource_url")),
        sid=_str(data.get("sid")),
        source=_str(data.get("source")),
        source_ip_address=_str(data.get("source_ip_address")),
        url=_str(data.get("url")),
        workspace_sid=_str(data.get("workspace_sid")),
    )
    _set_rest_dates(event, data.get("event_date"), data.get("event_date_ms"))
    event_data = data.get("event_data")
    if event_data is not None:
        event.event_data_json = orjson.dumps(event_data).decode()
    if isinstance(event_data, Mapping):
        event.event_data.update(event_data)
        _fill_typed(event, event_data)
    if event.workspace_sid and not event.workspace.workspace_sid:
        event.workspace.workspace_sid = event.workspace_sid
    return event


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _set_rest_dates(event: event_pb2.Event, date_text: Any, date_ms: Any) -> None:
    """Each as Twilio sent it; whichever is missing or unreadable is derived from the other.

    event_date is whole seconds in REST but milliseconds in a callback: when event_date_ms falls in the
    same second, event_date takes its precision so both paths hold the same instant.
    """
    millis = _lenient_int(date_ms)
    if millis is not None and 0 <= millis <= _MAX_MS:
        event.event_date_ms = millis
    else:
        millis = None
    moment = parse_date(date_text)
    if moment is not None:
        event.event_date.FromDatetime(moment)
        if millis is None:
            event.event_date_ms = event.event_date.ToMilliseconds()
        elif millis // 1000 == event.event_date.seconds:
            event.event_date.CopyFrom(_timestamp_from_ms(millis))
    elif millis is not None:
        event.event_date.CopyFrom(_timestamp_from_ms(millis))
