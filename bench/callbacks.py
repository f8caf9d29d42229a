"""Signed TaskRouter event callbacks, built and signed before the clock starts.

Each callback is a reservation.created POST shaped like Twilio's (the Events Reference page's field list, realistic values),
with a distinct event Sid, so the event log stores every one (the log de-duplicates by Sid). The Sid carries
a run tag and the callback's index: "EV" + 8 hex (run tag) + 24 hex (index). Subscribers find it in the
bytes they receive with one bytes.find per event, so the load side never parses a message.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode, urlsplit

from twilio.request_validator import RequestValidator

from .rawhttp import build_request

WORKSPACE_NAME = "Customer Support"
_TEMPLATE = {
    "EventType": "reservation.created",
    "WorkspaceName": WORKSPACE_NAME,
    "ResourceType": "Reservation",
    "TaskAttributes": '{"type":"support","call_sid":"CAea82850f132db8e807167e8fc7fdde64","from":"+14155550123",'
    '"language":"en","priority_level":2}',
    "TaskAge": "37",
    "TaskPriority": "10",
    "TaskAssignmentStatus": "reserved",
    "TaskCanceledReason": "",
    "TaskCompletedReason": "",
    "WorkerName": "Alice",
    "WorkerAttributes": '{"skills":["english","billing"],"level":3,"contact_uri":"client:alice"}',
    "WorkerActivitySid": "WA1bd8d9bd534c3594711e8362ac9d2ec9",
    "WorkerActivityName": "Available",
    "WorkerVersion": "7",
    "OperatingUnitSid": "OUc5b8d8f96e5da18c83ab2decfa1155c5",
    "TaskQueueSid": "WQe7cfefe711f1f97ccc7bb36c2f895e23",
    "WorkflowSid": "WWc6225580c3cc9bbeb01d39f13d202f1d",
}


def event_sid(run_tag: int, index: int) -> str:
    return f"EV{run_tag:08x}{index:024x}"


def sid_marker(run_tag: int) -> bytes:
    """The bytes every Sid of this run starts with; the index is the 24 hex digits after them."""
    return f"EV{run_tag:08x}".encode()


def event_indexes(message: bytes, marker: bytes) -> list[int]:
    """The callback index of every event in a StreamEventsResponse (-1 for events not from this run).

    Walks the message's top-level entries (field 1, length-delimited: 0x0a, varint length, bytes) and looks
    for the marker inside each one, so an event whose Sid shows up in several of its fields counts once.
    """
    out: list[int] = []
    pos, end = 0, len(message)
    while pos < end:
        if message[pos] != 0x0A:
            raise ValueError(f"unexpected field tag {message[pos]:#x} at byte {pos}")
        pos += 1
        length = shift = 0
        while True:
            byte = message[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        at = message.find(marker, pos, pos + length)
        if at < 0:
            out.append(-1)
        else:
            start = at + len(marker)
            out.append(int(message[start : start + 24], 16))
        pos += length
    return out


def callback_params(account_sid: str, workspace_sid: str, run_tag: int, index: int, now_ms: int) -> dict[str, str]:
    reservation = f"WR{run_tag:08x}{index:024x}"
    task = f"WT{index:032x}"
    params = dict(_TEMPLATE)
    params.update(
        AccountSid=account_sid,
        WorkspaceSid=workspace_sid,
        EventDescription=f"Reservation {reservation} created for Task {task}",
        ResourceSid=reservation,
        ReservationSid=reservation,
        TaskSid=task,
        WorkerSid=f"WK{index % 50:032x}",
        Timestamp=str(now_ms // 1000),
        TimestampMs=str(now_ms),
        Sid=event_sid(run_tag, index),
    )
    return params


class CallbackSigner:
    """Builds the raw HTTP request of callback `index`, signed as Twilio signs it (X-Twilio-Signature)."""

    def __init__(self, webhook_url: str, auth_token: str, account_sid: str, workspace_sid: str, run_tag: int):
        parts = urlsplit(webhook_url)
        self._url = webhook_url
        self._path = parts.path + (f"?{parts.query}" if parts.query else "")
        self._host = parts.netloc
        self._validator = RequestValidator(auth_token)
        self._account_sid = account_sid
        self._workspace_sid = workspace_sid
        self.run_tag = run_tag

    def request(self, index: int) -> bytes:
        params = callback_params(self._account_sid, self._workspace_sid, self.run_tag, index, time.time_ns() // 10**6)
        signature = self._validator.compute_signature(self._url, params)
        return build_request(
            "POST",
            self._path,
            self._host,
            headers=(
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("X-Twilio-Signature", signature),
                ("User-Agent", "TwilioProxy/1.1"),
            ),
            body=urlencode(params).encode("ascii"),
        )

    def pool(self, count: int, start: int = 0) -> list[bytes]:
        return [self.request(index) for index in range(start, start + count)]
