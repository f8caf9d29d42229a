"""CallEventService requests and Voice Call Event resources (2010-04-01 API, the Call Events page). Pure.

Paging follows the 2010 API: the next page is the reply's `next_page_uri`, wrapped in the page token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson
from taskrouter.gateway.v1 import call_event_pb2, call_event_service_pb2 as svc

from .paging import list_call, next_token
from .rest_call import RestCall
from .values import set_timestamp

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_INT = re.compile(r"[+-]?[0-9]{1,10}")  # bounded: Python refuses int() of very long digit strings


def collection(account_sid: str, call_sid: str) -> str:
    return f"/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}/Events.json"


def list_call_events_call(req: svc.ListCallEventsRequest, *, default_account_sid: str) -> RestCall:
    """`default_account_sid` (the gateway's account) is used when the request names none."""
    path = collection(req.account_sid or default_account_sid, req.call_sid)
    return list_call(path, {}, req.page_size, req.page_token, base="api")


def call_event_from_json(data: Mapping[str, Any]) -> call_event_pb2.CallEvent:
    event = call_event_pb2.CallEvent()
    request = data.get("request")
    if isinstance(request, Mapping):
        event.request.method = _str(request.get("method"))
        event.request.url = _str(request.get("url"))
        parameters = request.get("parameters")
        if isinstance(parameters, Mapping):
            # Non-string values travel as their JSON text, so nothing Twilio sent is dropped.
            event.request.parameters.update(
                {str(k): v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in parameters.items()}
            )
    response = data.get("response")
    if isinstance(response, Mapping):
        event.response.response_code = _int32(response.get("response_code"))
        event.response.request_duration = _int32(response.get("request_duration"))
        event.response.content_type = _str(response.get("content_type"))
        event.response.response_body = _str(response.get("response_body"))
        try:
            set_timestamp(event.response.date_created, _str(response.get("date_created")))
        except (TypeError, ValueError):
            event.response.ClearField("date_created")  # an unreadable date is left unset, not guessed
    return event


def list_call_events_response(body: Mapping[str, Any]) -> svc.ListCallEventsResponse:
    return svc.ListCallEventsResponse(
        events=[call_event_from_json(item) for item in body.get("events") or () if isinstance(item, Mapping)],
        next_page_token=next_token(body),
    )


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int32(value: Any) -> int:
    """Twilio sends numbers; a numeric string is accepted too; anything else (or out of range) is 0."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, str) and _INT.fullmatch(value.strip()):
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and _INT32_MIN <= value <= _INT32_MAX else 0
