"""Every event type the emulator emits reaches the callback URL with every field the Events Reference page lists for it."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl

from aiohttp import web

# Transcribed from the TaskRouter Events Reference page (docs/taskrouter/api/event/reference): the
# parameters posted for every event, and the field groups its catalog names per event type.
COMMON = {"EventType", "AccountSid", "WorkspaceSid", "WorkspaceName", "EventDescription", "ResourceType",
          "ResourceSid", "Timestamp"}
OURS = {"Sid", "TimestampMs"}  # the issue adds these to every callback
WORKER = {"WorkerSid", "WorkerName", "WorkerAttributes", "WorkerActivitySid", "WorkerActivityName", "WorkerVersion",
          "OperatingUnitSid"}
ACTIVITY_CHANGE = {"WorkerTimeInPreviousActivity", "WorkerTimeInPreviousActivityMs", "WorkerPreviousActivitySid"}
CATALOG = {
    "workspace.created": {"WorkspaceSid", "WorkspaceName"},
    "workspace.updated": {"WorkspaceSid", "WorkspaceName"},
    "workspace.deleted": {"WorkspaceSid", "WorkspaceName"},
    "activity.created": {"ActivitySid", "ActivityName", "ActivityAvailable"},
    "activity.updated": {"ActivitySid", "ActivityName", "ActivityAvailable"},
    "activity.deleted": {"ActivitySid", "ActivityName", "ActivityAvailable"},
    "worker.created": WORKER,
    "worker.activity.update": WORKER | ACTIVITY_CHANGE,
    "worker.attributes.update": WORKER,
    "worker.deleted": WORKER,
}


async def test_each_event_type_carries_its_catalog_fields(emulator_http):
    received: asyncio.Queue[dict[str, str]] = asyncio.Queue()

    async def receive(request: web.Request) -> web.Response:
        await received.put(dict(parse_qsl(await request.text(), keep_blank_values=True)))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/events", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/events"
    try:
        async with emulator_http.post("/v1/Workspaces", data={"FriendlyName": "Catalog", "EventCallbackUrl": url}) as r:
            ws = (await r.json())["sid"]
        base = f"/v1/Workspaces/{ws}"
        async with emulator_http.post(base, data={"FriendlyName": "Catalog 2"}) as r:
            assert r.status == 200
        async with emulator_http.post(f"{base}/Activities", data={"FriendlyName": "Lunch", "Available": "true"}) as r:
            lunch = (await r.json())["sid"]
        async with emulator_http.post(f"{base}/Activities/{lunch}", data={"FriendlyName": "Brunch"}) as r:
            assert r.status == 200
        async with emulator_http.post(f"{base}/Workers", data={"FriendlyName": "Cat", "Attributes": '{"a": 1}'}) as r:
            worker = (await r.json())["sid"]
        async with emulator_http.post(f"{base}/Workers/{worker}", data={"ActivitySid": lunch}) as r:
            assert r.status == 200
        async with emulator_http.post(f"{base}/Workers/{worker}", data={"Attributes": '{"a": 2}'}) as r:
            assert r.status == 200
        async with emulator_http.delete(f"{base}/Workers/{worker}") as r:
            assert r.status == 204
        async with emulator_http.delete(f"{base}/Activities/{lunch}") as r:
            assert r.status == 204
        async with emulator_http.delete(base) as r:
            assert r.status == 204
        seen: dict[str, dict[str, str]] = {}
        while set(CATALOG) - set(seen):
            form = await asyncio.wait_for(received.get(), 10)
            seen.setdefault(form["EventType"], form)
        for event_type, fields in CATALOG.items():
            form = seen[event_type]
            missing = (COMMON | OURS | fields) - set(form)
            assert not missing, f"{event_type} lacks {sorted(missing)}"
            assert form["Sid"].startswith("EV") and form["TimestampMs"].isdigit()
        moved = seen["worker.activity.update"]
        assert moved["WorkerPreviousActivitySid"] != moved["WorkerActivitySid"] == lunch
        assert seen["worker.attributes.update"]["WorkerAttributes"] == '{"a": 2}'
    finally:
        await runner.cleanup()
