"""The emulator's own admin API (not Twilio's): recording calls for the Call Events endpoint, and a health
check, and the clock. Fault injection's /admin/faults routes are routes/faults.py.

POST /admin/calls  (JSON body)
    {"sid": "CA..." (optional: appends to that call, or creates it with this SID),
     "events": [{"request":  {"method": "POST", "url": "https://...", "parameters": {"CallSid": "CA..."}},
                 "response": {"response_code": 200, "request_duration": 50, "content_type": "text/xml",
                              "response_body": "<Response/>", "date_created": "Tue, 11 Aug 2020 17:44:08 +0000"}}]}
    -> 201 {"sid", "account_sid", "event_count", "uri", "url"}
    Parameter names are stored in snake_case (CallSid -> call_sid), as Twilio presents them. Only "url" and
    "response_code" are required; the rest default (method POST, parameters {}, request_duration 0,
    content_type application/xml, response_body "", date_created now).
GET /admin/health -> 200 {"status": "ok", "counts": {...}}
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from ..errors import bad_parameter
from ..model import CallEvent
from ..dates import rfc2822
from ..naming import snake_case
from ..render import json_response
from ..sids import is_sid
from .common import context

_METHODS = ("GET", "POST")


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_parameter(f"{where} must be a JSON object")
    return value


def _string(value: Any, where: str, default: str | None = None) -> str:
    if value is None and default is not None:
        return default
    if not isinstance(value, str):
        raise bad_parameter(f"{where} must be a string")
    return value


def _integer(value: Any, where: str, minimum: int, maximum: int | None = None, default: int | None = None) -> int:
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (maximum and value > maximum):
        bounds = f"{minimum}..{maximum}" if maximum else f">= {minimum}"
        raise bad_parameter(f"{where} must be an integer {bounds}")
    return value


def parse_call_event(raw: Any, index: int, now: float) -> CallEvent:
    where = f"events[{index}]"
    item = _object(raw, where)
    request = _object(item.get("request"), f"{where}.request")
    response = _object(item.get("response"), f"{where}.response")
    method = _string(request.get("method"), f"{where}.request.method", "POST").upper()
    if method not in _METHODS:
        raise bad_parameter(f"{where}.request.method must be GET or POST")
    url = _string(request.get("url"), f"{where}.request.url")
    raw_parameters = _object(request.get("parameters", {}), f"{where}.request.parameters")
    parameters = {}
    for name, value in raw_parameters.items():
        if isinstance(value, (dict, list)):
            raise bad_parameter(f"{where}.request.parameters.{name} must be a scalar")
        parameters[snake_case(name)] = value if isinstance(value, str) else orjson.dumps(value).decode()
    return CallEvent(
        request={"method": method, "url": url, "parameters": parameters},
        response={
            "response_code": _integer(response.get("response_code"), f"{where}.response.response_code", 100, 599),
            "request_duration": _integer(
                response.get("request_duration"), f"{where}.response.request_duration", 0, default=0
            ),
            "content_type": _string(response.get("content_type"), f"{where}.response.content_type", "application/xml"),
            "response_body": _string(response.get("response_body"), f"{where}.response.response_body", ""),
            "date_created": _string(response.get("date_created"), f"{where}.response.date_created", rfc2822(now)),
        },
    )


async def record_call(request: web.Request) -> web.Response:
    ctx = context(request)
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise bad_parameter(f"The body must be JSON: {exc}") from None
    body = _object(body, "The body")
    sid = body.get("sid")
    if sid is not None and not (isinstance(sid, str) and is_sid(sid, "CA")):
        raise bad_parameter("sid must be a Call SID (CA followed by 32 hex digits)")
    raw_events = body.get("events")
    if not isinstance(raw_events, list) or not raw_events:
        raise bad_parameter("events must be a non-empty JSON array of {request, response} objects")
    now = ctx.store.clock()
    events = [parse_call_event(raw, index, now) for index, raw in enumerate(raw_events)]
    call = ctx.store.create_call(events, sid=sid)
    uri = f"/2010-04-01/Accounts/{call.account_sid}/Calls/{call.sid}/Events.json"
    return json_response(
        {
            "sid": call.sid,
            "account_sid": call.account_sid,
            "event_count": len(call.events),
            "uri": uri,
            "url": ctx.base(request) + uri,
        },
        status=201,
    )


async def health(request: web.Request) -> web.Response:
    return json_response({"status": "ok", "counts": context(request).store.counts()})


def register(app: web.Application) -> None:
    app.router.add_post("/admin/calls", record_call)
    app.router.add_get("/admin/health", health, allow_head=False)
    register_clock(app)


# ---- the clock: virtual time for tests and demos ---------------------------------------------------
#
# GET  /admin/clock                      -> {"virtual": bool, "now": epoch seconds, "pending_timers": n}
# POST /admin/clock {"virtual": true, "now": 1700000000.0 (optional)}   switch to virtual time (or back: false)
# POST /admin/clock/advance {"seconds": 30}   virtual time only: move forward, firing due timers in order
#      -> {"virtual": true, "now": ..., "fired": n, "pending_timers": n}


def _clock_body(request: web.Request, **extra: Any) -> dict[str, Any]:
    store = context(request).store
    return {"virtual": store.virtual_time, "now": store.clock(), "pending_timers": len(store.timers), **extra}


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.read() or b"{}")
    except orjson.JSONDecodeError as exc:
        raise bad_parameter(f"The body must be JSON: {exc}") from None
    return _object(body, "The body")


async def get_clock(request: web.Request) -> web.Response:
    return json_response(_clock_body(request))


async def set_clock(request: web.Request) -> web.Response:
    body = await _json_object(request)
    virtual = body.get("virtual")
    if not isinstance(virtual, bool):
        raise bad_parameter("virtual must be true or false")
    now = body.get("now")
    if now is not None and (isinstance(now, bool) or not isinstance(now, (int, float)) or now < 0):
        raise bad_parameter("now must be a non-negative number of epoch seconds")
    context(request).store.set_virtual_clock(virtual, float(now) if now is not None else None)
    return json_response(_clock_body(request))


async def advance_clock(request: web.Request) -> web.Response:
    body = await _json_object(request)
    seconds = body.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds <= 10 * 365 * 86400:
        raise bad_parameter("seconds must be a number between 0 and 315360000")
    fired = context(request).store.advance_clock(float(seconds))
    return json_response(_clock_body(request, fired=fired))


def register_clock(app: web.Application) -> None:
    app.router.add_get("/admin/clock", get_clock, allow_head=False)
    app.router.add_post("/admin/clock", set_clock)
    app.router.add_post("/admin/clock/advance", advance_clock)
