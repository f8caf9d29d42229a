"""What the event log stores for an event, and how a stored event becomes an Event again.

The log keeps what TaskRouter sent, not our rendering of it: a callback's parameters, or a REST Event
resource (from backfill), as compact JSON behind a one-byte tag. The webhook's hot path then does no more
than validate and store; the Event is built when someone reads it (once per event for all subscribers), and
a fix to the normaliser applies to events already stored.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from taskrouter.gateway.v1 import event_pb2

from ..translate.events import (
    TASKROUTER_BASE_URL,
    CallbackEnvelope,
    event_from_envelope,
    event_from_rest,
)
from .log import NewEvent, StoredEvent

CALLBACK: Final = b"C"  # orjson of the callback's parameters, {name: value} in the order sent
REST: Final = b"R"  # orjson of one item of GET .../Events


class UnreadableRecord(ValueError):
    """A stored payload this build cannot decode (written by a newer build, or damaged)."""


def from_callback(envelope: CallbackEnvelope) -> NewEvent:
    return NewEvent(
        sid=envelope.sid,
        workspace_sid=envelope.workspace_sid,
        event_type=envelope.event_type,
        resource_sid=envelope.resource_sid,
        event_date_ms=max(envelope.event_date_ms, 0),
        payload=CALLBACK + orjson.dumps(envelope.raw),
    )


def from_rest(item: dict[str, Any], event: event_pb2.Event) -> NewEvent:
    """`event` is event_from_rest(item), already built by the caller (it needs it to sort and to check)."""
    return NewEvent(
        sid=event.sid,
        workspace_sid=event.workspace_sid,
        event_type=event.event_type,
        resource_sid=event.resource_sid,
        event_date_ms=max(event.event_date_ms, 0),
        payload=REST + orjson.dumps(item),
    )


def to_event(stored: StoredEvent, *, base_url: str = TASKROUTER_BASE_URL) -> event_pb2.Event:
    """The Event a stored record stands for. Raises UnreadableRecord for a payload it does not know."""
    payload = stored.payload
    tag, body = payload[:1], payload[1:]
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise UnreadableRecord(f"event seq {stored.seq}: payload is not JSON: {exc}") from None
    if tag == CALLBACK and isinstance(data, dict):
        envelope = CallbackEnvelope(
            data, stored.sid, stored.workspace_sid, stored.event_type, stored.resource_sid, stored.event_date_ms
        )
        return event_from_envelope(envelope, base_url=base_url)
    if tag == REST and isinstance(data, dict):
        return event_from_rest(data)
    raise UnreadableRecord(f"event seq {stored.seq}: unknown record tag {tag!r}")
