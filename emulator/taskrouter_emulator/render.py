"""Records to Twilio's JSON shapes (property names, url and links exactly as the OpenAPI examples show)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from .dates import iso
from .errors import NOT_FOUND, TwilioApiError
from .model import Activity, CallEvent, Event, Worker, Workspace

_WORKSPACE_LINKS = (
    ("activities", "/Activities"),
    ("statistics", "/Statistics"),
    ("real_time_statistics", "/RealTimeStatistics"),
    ("cumulative_statistics", "/CumulativeStatistics"),
    ("task_queues", "/TaskQueues"),
    ("tasks", "/Tasks"),
    ("workers", "/Workers"),
    ("workflows", "/Workflows"),
    ("task_channels", "/TaskChannels"),
    ("events", "/Events"),
)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, headers=headers, content_type="application/json")


def error_response(exc: TwilioApiError, path: str) -> web.Response:
    """Twilio's JSON error body; a 404 without a message names the request path, as Twilio's does."""
    if exc.code == NOT_FOUND and not exc.message:
        exc = TwilioApiError(exc.status, exc.code, f"The requested resource {path} was not found", exc.headers)
    return json_response(exc.body(), status=exc.status, headers=exc.headers or None)


def workspace_url(base: str, workspace_sid: str) -> str:
    return f"{base}/v1/Workspaces/{workspace_sid}"


def activity_url(base: str, workspace_sid: str, activity_sid: str) -> str:
    return f"{base}/v1/Workspaces/{workspace_sid}/Activities/{activity_sid}"


def worker_url(base: str, workspace_sid: str, worker_sid: str) -> str:
    return f"{base}/v1/Workspaces/{workspace_sid}/Workers/{worker_sid}"


def event_url(base: str, workspace_sid: str, event_sid: str) -> str:
    return f"{base}/v1/Workspaces/{workspace_sid}/Events/{event_sid}"


def workspace(base: str, ws: Workspace, default: Activity | None, timeout: Activity | None) -> dict[str, Any]:
    url = workspace_url(base, ws.sid)
    return {
        "account_sid": ws.account_sid,
        "date_created": iso(ws.date_created),
        "date_updated": iso(ws.date_updated),
        "default_activity_name": default.friendly_name if default else None,
        "default_activity_sid": ws.default_activity_sid,
        # Twilio shows an unset callback URL as "" (see the OpenAPI examples), the unset filter as null.
        "event_callback_url": ws.event_callback_url or None,
        "events_filter": ws.events_filter or None,
        "friendly_name": ws.friendly_name,
        "links": {name: url + suffix for name, suffix in _WORKSPACE_LINKS},
        "multi_task_enabled": ws.multi_task_enabled,
        "prioritize_queue_order": ws.prioritize_queue_order,
        "sid": ws.sid,
        "timeout_activity_name": timeout.friendly_name if timeout else None,
        "timeout_activity_sid": ws.timeout_activity_sid,
        "url": url,
    }


def activity(base: str, act: Activity) -> dict[str, Any]:
    return {
        "account_sid": act.account_sid,
        "available": act.available,
        "date_created": iso(act.date_created),
        "date_updated": iso(act.date_updated),
        "friendly_name": act.friendly_name,
        "sid": act.sid,
        "url": activity_url(base, act.workspace_sid, act.sid),
        "workspace_sid": act.workspace_sid,
        "links": {"workspace": workspace_url(base, act.workspace_sid)},
    }


def worker(base: str, wk: Worker, act: Activity, *, with_attributes: bool) -> dict[str, Any]:
    ws_url = workspace_url(base, wk.workspace_sid)
    url = worker_url(base, wk.workspace_sid, wk.sid)
    return {
        "account_sid": wk.account_sid,
        "activity_name": act.friendly_name,
        "activity_sid": wk.activity_sid,
        # Twilio: attributes are shown only when a single Worker is returned; lists carry null.
        "attributes": wk.attributes if with_attributes else None,
        "available": act.available,
        "date_created": iso(wk.date_created),
        "date_status_changed": iso(wk.date_status_changed),
        "date_updated": iso(wk.date_updated),
        "friendly_name": wk.friendly_name,
        "sid": wk.sid,
        "url": url,
        "workspace_sid": wk.workspace_sid,
        "links": {
            "channels": url + "/Channels",
            "activity": activity_url(base, wk.workspace_sid, wk.activity_sid),
            "workspace": ws_url,
            "statistics": ws_url + "/Workers/Statistics",
            "real_time_statistics": ws_url + "/Workers/RealTimeStatistics",
            "cumulative_statistics": ws_url + "/Workers/CumulativeStatistics",
            "worker_statistics": url + "/Statistics",
            "worker_channels": url + "/Channels",
            "reservations": url + "/Reservations",
        },
    }


_RESOURCE_PATHS = {
    "worker": "Workers",
    "activity": "Activities",
    "workspace": None,
    "task": "Tasks",
    "taskqueue": "TaskQueues",
    "workflow": "Workflows",
    "taskchannel": "TaskChannels",
}


def resource_url(base: str, ev: Event) -> str:
    ws_url = workspace_url(base, ev.workspace_sid)
    if ev.resource_type == "reservation":
        return f"{ws_url}/Tasks/{ev.event_data.get('task_sid', '')}/Reservations/{ev.resource_sid}"
    segment = _RESOURCE_PATHS.get(ev.resource_type)
    return ws_url if segment is None else f"{ws_url}/{segment}/{ev.resource_sid}"


def event(base: str, ev: Event) -> dict[str, Any]:
    return {
        "account_sid": ev.account_sid,
        "actor_sid": ev.actor_sid or None,
        "actor_type": ev.actor_type,
        "actor_url": workspace_url(base, ev.actor_sid) if ev.actor_type == "workspace" and ev.actor_sid else None,
        "description": ev.description,
        "event_data": dict(ev.event_data),
        "event_date": iso(ev.event_date_ms / 1000),
        "event_date_ms": ev.event_date_ms,
        "event_type": ev.event_type,
        "resource_sid": ev.resource_sid,
        "resource_type": ev.resource_type,
        "resource_url": resource_url(base, ev),
        "sid": ev.sid,
        "source": ev.source,
        "source_ip_address": ev.source_ip_address,
        "url": event_url(base, ev.workspace_sid, ev.sid),
        "workspace_sid": ev.workspace_sid,
    }


def call_event(ce: CallEvent) -> dict[str, Any]:
    return {"request": ce.request, "response": ce.response}
