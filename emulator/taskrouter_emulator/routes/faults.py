"""The fault-injection admin API (the rules themselves are faults.py).

Admin API (JSON in and out; failures answer Twilio's error body with code 20001 naming the bad field):
  POST   /admin/faults/rest        {"path": "/v1/Workspaces/*/Workers/*", "match": "prefix"|"exact",
                                    "method": "GET"|null, "status": 429|500|503|null, "retry_after": 1,
                                    "latency_ms": 0, "count": N|null, "fraction": 0.5|null, "seed": 0}
                                   -> 201 with the rule, including its "id" and counters
  DELETE /admin/faults/rest/{id}   -> 204 (404 when no such rule)
  POST   /admin/faults/callbacks   {"mode": "drop"|"duplicate"|"reorder"|"delay", "count": N|null,
                                    "fraction": p|null, "seed": 0, "delay_ms": ms (delay only),
                                    "hold_ms": ms (reorder only), "event_types": ["worker.created"]|null}
                                   -> 201 with the rule
  DELETE /admin/faults/callbacks/{id} -> 204 (404 when no such rule)
  GET    /admin/faults             -> {"rest": [rules], "callbacks": [rules], "requests_seen": N}
  DELETE /admin/faults             -> 204; removes every rule and zeroes requests_seen
  GET    /admin/callbacks/stats    -> the callback dispatcher's counters

Routes render their own errors (rather than relying on the app's error middleware), so the API answers
the same wherever it is mounted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson
from aiohttp import web

from ..callbacks import CallbackDispatcher
from ..errors import TwilioApiError, bad_parameter, not_found
from ..faults import CALLBACK_FIELDS, REST_FIELDS, FaultInjector
from ..render import error_response, json_response

Handler = Callable[[web.Request], Awaitable[web.Response]]


async def _json_object(request: web.Request, allowed: Iterable[str]) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise bad_parameter("Invalid body: must be a JSON object") from None
    if not isinstance(body, dict):
        raise bad_parameter("Invalid body: must be a JSON object")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise bad_parameter(f"Invalid {unknown[0]}: unknown field")
    return body


class _AdminApi:
    def __init__(self, injector: FaultInjector, dispatcher: CallbackDispatcher | None) -> None:
        self.injector = injector
        self.dispatcher = dispatcher

    async def add_rest(self, request: web.Request) -> web.Response:
        body = await _json_object(request, REST_FIELDS)
        if "path" not in body:
            raise bad_parameter("Invalid path: required")
        return json_response(self.injector.rest.add(**body).to_json(), 201)

    async def add_callback(self, request: web.Request) -> web.Response:
        body = await _json_object(request, CALLBACK_FIELDS)
        if "mode" not in body:
            raise bad_parameter("Invalid mode: required")
        return json_response(self.injector.callbacks.add(**body).to_json(), 201)

    async def remove_rest(self, request: web.Request) -> web.Response:
        if not self.injector.rest.remove(request.match_info["id"]):
            raise not_found(f"No REST fault rule {request.match_info['id']}")
        return web.Response(status=204)

    async def remove_callback(self, request: web.Request) -> web.Response:
        if not self.injector.callbacks.remove(request.match_info["id"]):
            raise not_found(f"No callback fault rule {request.match_info['id']}")
        return web.Response(status=204)

    async def list(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "rest": [rule.to_json() for rule in self.injector.rest.rules],
                "callbacks": [rule.to_json() for rule in self.injector.callbacks.rules],
                "requests_seen": self.injector.rest.requests_seen,
            }
        )

    async def clear(self, request: web.Request) -> web.Response:
        self.injector.clear()
        return web.Response(status=204)

    async def stats(self, request: web.Request) -> web.Response:
        if self.dispatcher is None:
            raise not_found("This emulator has no callback dispatcher")
        return json_response(self.dispatcher.stats_json())


def _twilio_errors(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except TwilioApiError as error:
            return error_response(error, request.path)

    return wrapped


def register(app: web.Application, injector: FaultInjector, dispatcher: CallbackDispatcher | None = None) -> None:
    api = _AdminApi(injector, dispatcher)
    router = app.router
    router.add_post("/admin/faults/rest", _twilio_errors(api.add_rest))
    router.add_delete("/admin/faults/rest/{id}", _twilio_errors(api.remove_rest))
    router.add_post("/admin/faults/callbacks", _twilio_errors(api.add_callback))
    router.add_delete("/admin/faults/callbacks/{id}", _twilio_errors(api.remove_callback))
    router.add_get("/admin/faults", _twilio_errors(api.list))
    router.add_delete("/admin/faults", _twilio_errors(api.clear))
    router.add_get("/admin/callbacks/stats", _twilio_errors(api.stats))
