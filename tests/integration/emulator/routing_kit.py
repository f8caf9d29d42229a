"""Helpers for the routing tests: one workspace with its activities, queues, workflows, workers and tasks,
driven over the emulator's real HTTP API (and its admin clock)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp


async def call(http: aiohttp.ClientSession, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with http.request(method, path, **kwargs) as resp:
        raw = await resp.read()
        return resp.status, (json.loads(raw) if raw else None)


async def ok(http: aiohttp.ClientSession, method: str, path: str, **kwargs: Any) -> Any:
    status, body = await call(http, method, path, **kwargs)
    assert status in (200, 201, 204), (method, path, status, body)
    return body


@dataclass
class Space:
    http: aiohttp.ClientSession
    sid: str
    activities: dict[str, str] = field(default_factory=dict)  # name -> sid

    @property
    def base(self) -> str:
        return f"/v1/Workspaces/{self.sid}"

    async def queue(self, name: str, **params: Any) -> str:
        body = await ok(self.http, "POST", f"{self.base}/TaskQueues", data={"FriendlyName": name, **params})
        return body["sid"]

    async def workflow(self, configuration: dict[str, Any], **params: Any) -> str:
        data = {"FriendlyName": params.pop("FriendlyName", "wf"), "Configuration": json.dumps(configuration), **params}
        return (await ok(self.http, "POST", f"{self.base}/Workflows", data=data))["sid"]

    async def simple_workflow(self, queue: str, **params: Any) -> str:
        return await self.workflow({"task_routing": {"filters": [], "default_filter": {"queue": queue}}}, **params)

    async def worker(self, name: str, attributes: dict[str, Any] | None = None, activity: str = "Available") -> str:
        data = {"FriendlyName": name, "Attributes": json.dumps(attributes or {}),
                "ActivitySid": self.activities[activity]}
        return (await ok(self.http, "POST", f"{self.base}/Workers", data=data))["sid"]

    async def set_activity(self, worker: str, activity: str, **extra: str) -> dict[str, Any]:
        data = {"ActivitySid": self.activities[activity], **extra}
        return await ok(self.http, "POST", f"{self.base}/Workers/{worker}", data=data)

    async def task(self, workflow: str | None, attributes: dict[str, Any] | None = None, **params: Any) -> str:
        data = {"Attributes": json.dumps(attributes or {}), **params}
        if workflow is not None:
            data["WorkflowSid"] = workflow
        return (await ok(self.http, "POST", f"{self.base}/Tasks", data=data))["sid"]

    async def get_task(self, task: str) -> dict[str, Any]:
        return await ok(self.http, "GET", f"{self.base}/Tasks/{task}")

    async def reservations(self, task: str, status: str | None = None) -> list[dict[str, Any]]:
        params = {"ReservationStatus": status} if status else {}
        body = await ok(self.http, "GET", f"{self.base}/Tasks/{task}/Reservations", params=params)
        return body["reservations"]

    async def worker_reservations(self, worker: str, status: str | None = None) -> list[dict[str, Any]]:
        params = {"ReservationStatus": status} if status else {}
        body = await ok(self.http, "GET", f"{self.base}/Workers/{worker}/Reservations", params=params)
        return body["reservations"]

    async def update_reservation(self, task: str, reservation: str, **data: str) -> tuple[int, Any]:
        return await call(self.http, "POST", f"{self.base}/Tasks/{task}/Reservations/{reservation}", data=data)

    async def update_task(self, task: str, headers: dict[str, str] | None = None, **data: str) -> tuple[int, Any]:
        return await call(self.http, "POST", f"{self.base}/Tasks/{task}", data=data, headers=headers or {})

    async def events(self, since: int = 0) -> list[dict[str, Any]]:
        """Every event of the workspace (about the last 30 days), oldest first, all pages."""
        found: list[dict[str, Any]] = []
        url: str | None = f"{self.base}/Events"
        params: dict[str, Any] | None = {"Minutes": 43_000, "PageSize": 1000}
        while url:
            body = await ok(self.http, "GET", url, params=params)
            found.extend(body["events"])
            url, params = body["meta"]["next_page_url"], None
        found.sort(key=lambda event: event["event_date_ms"])
        return found[since:]

    async def event_types(self, since: int = 0, *, routing_only: bool = True) -> list[str]:
        types = [e["event_type"] for e in await self.events(since)]
        if routing_only:
            skip = ("workspace.", "activity.", "worker.created", "task-queue.created", "workflow.created",
                    "task-channel.")
            types = [t for t in types if not t.startswith(skip)]
        return types

    async def advance(self, seconds: float) -> dict[str, Any]:
        return await ok(self.http, "POST", "/admin/clock/advance", json={"seconds": seconds})


async def new_space(http: aiohttp.ClientSession, *, virtual_clock: bool = True, **params: Any) -> Space:
    if virtual_clock:
        await ok(http, "POST", "/admin/clock", json={"virtual": True})
    ws = await ok(http, "POST", "/v1/Workspaces", data={"FriendlyName": "Routing", **params})
    acts = await ok(http, "GET", f"/v1/Workspaces/{ws['sid']}/Activities")
    space = Space(http, ws["sid"], {a["friendly_name"]: a["sid"] for a in acts["activities"]})
    for name, available in (("Reserved", "false"), ("Busy", "false"), ("Break", "false")):
        made = await ok(http, "POST", f"{space.base}/Activities", data={"FriendlyName": name, "Available": available})
        space.activities[name] = made["sid"]
    return space
