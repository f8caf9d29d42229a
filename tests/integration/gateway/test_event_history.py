"""Event history across outages, on both backends: a restart recovers every event of an outage longer than the
backfill's overlap, whatever arrives first, and a callback older than retention is refused, not stored.

The emulator's clock is virtual, so a two-hour outage takes no time; its callbacks to a stopped gateway fail
and are lost, as TaskRouter's are (it does not retry).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from datetime import datetime, timezone

import aiohttp
import grpc
import pytest
from callback_fixtures import live_callback
from natsutil import free_port
from twilio.request_validator import RequestValidator

from taskrouter.gateway.v1 import event_service_pb2 as e, event_service_pb2_grpc
from taskrouter_gateway.app import Gateway
from taskrouter_gateway.stream.cursor import encode_cursor

_streams = itertools.count()
OUTAGE_STEPS = 8  # events during the outage, 15 minutes apart: two hours, eight times the 15-minute overlap


async def _ok(http: aiohttp.ClientSession, method: str, path: str, **kwargs) -> dict:
    async with http.request(method, path, **kwargs) as resp:
        body = await resp.json()
        assert resp.status < 300, (resp.status, body)
        return body


async def _logged(gw: Gateway, sids: set[str], timeout: float = 20.0) -> None:
    """Returns once every sid is in the gateway's log (the webhook answered before we look)."""
    assert gw.event_log is not None
    deadline = time.monotonic() + timeout
    while True:
        held = {r.sid for r in await gw.event_log.read_after(0, limit=100_000)}
        if sids <= held:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not logged: {sorted(sids - held)}")
        await asyncio.sleep(0.02)  # polling the log for a condition, not standing in for one


async def _emulator_events(http: aiohttp.ClientSession, ws: str) -> list[dict]:
    """Every event the emulator recorded for the workspace (the truth the gateway must match)."""
    out: list[dict] = []
    now = (await _ok(http, "GET", "/admin/clock"))["now"]
    start = datetime.fromtimestamp(now - 29 * 24 * 3600, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    url: str | None = f"/v1/Workspaces/{ws}/Events?PageSize=1000&StartDate={start}"
    while url:
        page = await _ok(http, "GET", url)
        out.extend(page["events"])
        url = (page.get("meta") or {}).get("next_page_url")
        if url and url.startswith("http"):
            url = "/" + url.split("/", 3)[3]
    return out


async def _new_worker(http: aiohttp.ClientSession, ws: str, name: str) -> str:
    return (await _ok(http, "POST", f"/v1/Workspaces/{ws}/Workers", data={"FriendlyName": name}))["sid"]


async def _until_seen(admin, rule_id: str, timeout: float = 20.0) -> None:
    """Returns once the emulator has received a request matching the fault rule."""
    deadline = time.monotonic() + timeout
    while not any(r["id"] == rule_id and r["seen"] for r in (await admin.faults())["rest"]):
        if time.monotonic() > deadline:
            raise AssertionError(f"fault rule {rule_id} never matched")
        await asyncio.sleep(0.02)  # polling for a condition


async def _logged_resource(gw: Gateway, resource_sid: str, timeout: float = 20.0) -> None:
    assert gw.event_log is not None
    deadline = time.monotonic() + timeout
    while not any(r.resource_sid == resource_sid for r in await gw.event_log.read_after(0, limit=100_000)):
        if time.monotonic() > deadline:
            raise AssertionError(f"no event of {resource_sid} logged")
        await asyncio.sleep(0.02)  # polling the log for a condition, not standing in for one


def _backend(request: pytest.FixtureRequest, backend: str, tmp_path) -> dict:
    if backend == "sqlite":
        return dict(event_log_path=tmp_path / "events.sqlite3")
    cluster = request.getfixturevalue("nats_single")
    name = f"hist{next(_streams)}x{time.monotonic_ns() % 100_000}"
    return dict(event_backend="nats", nats_url=",".join(cluster.urls), nats_stream=name, nats_subject_prefix=name)


@pytest.mark.parametrize("backend", ["sqlite", "nats"])
async def test_a_restart_recovers_an_outage_longer_than_the_overlap_whatever_arrives_first(
    backend, request, tmp_path, emulator, emulator_http, emulator_admin, make_gateway
) -> None:
    await _ok(emulator_http, "POST", "/admin/clock", json={"virtual": True})
    ws = (await _ok(emulator_http, "POST", "/v1/Workspaces", data={"FriendlyName": "Outage"}))["sid"]
    port = free_port()
    common = dict(_backend(request, backend, tmp_path), webhook_port=port, workspaces=ws, backfill_on_start=True)
    await _ok(emulator_http, "POST", f"/v1/Workspaces/{ws}",
              data={"EventCallbackUrl": f"http://127.0.0.1:{port}/twilio/taskrouter/events"})

    first = await make_gateway(**common)
    assert first.backfill_task is not None
    await first.backfill_task  # the workspace's history so far, and its mark
    await _new_worker(emulator_http, ws, "before")
    before = {ev["sid"] for ev in await _emulator_events(emulator_http, ws)}
    await _logged(first, before)
    assert first.event_log is not None
    cursor = encode_cursor(first.event_log.log_id, await first.event_log.last_seq())
    await first.stop(0)

    # The outage: two hours of changes whose callbacks find no one listening.
    for step in range(OUTAGE_STEPS):
        await _ok(emulator_http, "POST", "/admin/clock/advance", json={"seconds": 15 * 60})
        await _new_worker(emulator_http, ws, f"outage-{step}")
    outage = {ev["sid"] for ev in await _emulator_events(emulator_http, ws)} - before
    assert len(outage) >= OUTAGE_STEPS

    # The restart. The start-up backfill is held back twice by emulator latency (no test sleeps): first while
    # it lists the account's workspaces, so a live callback lands before it picks where to start; then while it
    # reads the Events API, so another lands during its fetch.
    await emulator_admin.add_rest_fault(path="/v1/Workspaces", match="exact", method="GET", latency_ms=3000)
    events_rule = await emulator_admin.add_rest_fault(path=f"/v1/Workspaces/{ws}/Events", method="GET",
                                                      latency_ms=3000)
    second = await make_gateway(**dict(common, workspaces=""))
    await _logged_resource(second, await _new_worker(emulator_http, ws, "live-before"))
    assert second.backfill_task is not None and not second.backfill_task.done()
    await _until_seen(emulator_admin, events_rule["id"])
    await _logged_resource(second, await _new_worker(emulator_http, ws, "live-during"))
    assert not second.backfill_task.done()
    await second.backfill_task
    async with emulator_http.delete("/admin/faults") as resp:
        assert resp.status == 204
    await _new_worker(emulator_http, ws, "live-after")
    every = {ev["sid"] for ev in await _emulator_events(emulator_http, ws)}
    await _logged(second, every - before)

    # A subscriber resuming from before the outage gets every event of it and since, each exactly once.
    async with grpc.aio.insecure_channel(second.grpc_target) as channel:
        stub = event_service_pb2_grpc.EventServiceStub(channel)
        call = stub.StreamEvents(e.StreamEventsRequest(workspace_sid=ws, after_cursor=cursor))
        delivered: Counter[str] = Counter()

        async def read() -> None:
            async for message in call:
                delivered.update(item.event.sid for item in message.events)
                if set(delivered) >= every - before:
                    return

        await asyncio.wait_for(read(), 20)
        call.cancel()
    # Everything of the outage and since, once; nothing from before the cursor. (The emulator may have recorded
    # more since `every` was read; those may be delivered too, once.)
    final = {ev["sid"] for ev in await _emulator_events(emulator_http, ws)}
    assert every - before <= set(delivered) <= final - before
    assert max(delivered.values()) == 1
    assert second.event_log is not None
    held = [r.sid for r in await second.event_log.read_after(0, limit=100_000) if r.workspace_sid == ws]
    assert len(held) == len(set(held)) and every <= set(held) <= final
    # The mark moved past the outage: the next restart starts there, not two hours back.
    mark = await second.event_log.complete_until_ms(ws)
    assert mark is not None and mark >= max(ev_date for ev_date in await _outage_dates(emulator_http, ws, outage))


async def _outage_dates(http: aiohttp.ClientSession, ws: str, sids: set[str]) -> list[int]:
    return [int(datetime.fromisoformat(ev["event_date"].replace("Z", "+00:00")).timestamp() * 1000)
            for ev in await _emulator_events(http, ws) if ev["sid"] in sids]


@pytest.mark.parametrize("backend", ["sqlite", "nats"])
async def test_a_callback_dated_before_retention_is_refused_and_counted_not_stored(
    backend, request, tmp_path, emulator, make_gateway
) -> None:
    gw = await make_gateway(**_backend(request, backend, tmp_path), event_retention_days=1)
    assert gw.webhook is not None and gw.event_log is not None
    validator = RequestValidator(emulator.config.auth_token)
    day_ms = 24 * 3600 * 1000
    now_ms = time.time_ns() // 1_000_000
    replay = live_callback(WorkspaceSid="WS" + "4" * 32, at_ms=now_ms - 2 * day_ms)  # a replay of a 2-day-old one
    fresh = live_callback(WorkspaceSid="WS" + "4" * 32, at_ms=now_ms - day_ms // 2)
    async with aiohttp.ClientSession() as http:
        for params, status in ((replay, 400), (fresh, 204)):
            signature = validator.compute_signature(gw.webhook_url, params)
            async with http.post(gw.webhook_url, data=params, headers={"X-Twilio-Signature": signature}) as resp:
                body = await resp.text()
                assert resp.status == status, body
                if status == 400:
                    assert "retention" in body and replay["Sid"] in body
    assert gw.webhook.expired == 1
    held = {r.sid for r in await gw.event_log.read_after(0, limit=100)}
    assert replay["Sid"] not in held and fresh["Sid"] in held
