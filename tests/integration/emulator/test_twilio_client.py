"""Twilio's own Python library (twilio 9.x) against the emulator, as a real client would use it.

The library is synchronous, so each scenario runs in a thread (asyncio.to_thread) while the emulator keeps
serving on the test's event loop. Pointing it at the emulator: every domain object the client builds URLs
from has a `base_url` (client.taskrouter for /v1, client.api for /2010-04-01); absolute next_page_url
values from the emulator are followed as given.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from taskrouter_emulator import defaults

WS = defaults.DEFAULT_WORKSPACE_SID


def client_for(emulator, *, api_key: bool = False, token: str | None = None) -> Client:
    config = emulator.config
    if api_key:
        client = Client(config.api_key_sid, config.api_key_secret, config.account_sid)
    else:
        client = Client(config.account_sid, token or config.auth_token)
    client.taskrouter.base_url = emulator.base_url
    client.api.base_url = emulator.base_url
    return client


async def test_activities_lifecycle(emulator):
    def scenario() -> None:
        workspace = client_for(emulator).taskrouter.v1.workspaces(WS)
        created = workspace.activities.create(friendly_name="Lunch", available=True)
        assert created.sid.startswith("WA") and created.available is True
        assert workspace.activities(created.sid).fetch().friendly_name == "Lunch"
        for n in range(4):
            workspace.activities.create(friendly_name=f"extra{n}")
        listed = workspace.activities.list(page_size=2)  # 8 activities: four pages, followed by the library
        assert [a.friendly_name for a in listed] == [
            "Offline",
            "Unavailable",
            "Available",
            "Lunch",
            "extra0",
            "extra1",
            "extra2",
            "extra3",
        ]
        assert [a.friendly_name for a in workspace.activities.list(available="true")] == ["Available", "Lunch"]
        assert [a.friendly_name for a in workspace.activities.list(limit=3)] == ["Offline", "Unavailable", "Available"]
        updated = workspace.activities(created.sid).update(friendly_name="Long lunch")
        assert updated.friendly_name == "Long lunch" and updated.available is True
        assert workspace.activities(created.sid).delete() is True
        with pytest.raises(TwilioRestException) as missing:
            workspace.activities(created.sid).fetch()
        assert (missing.value.status, missing.value.code) == (404, 20404)

    await asyncio.to_thread(scenario)


async def test_workers_lifecycle_with_if_match(emulator):
    def scenario() -> None:
        workspace = client_for(emulator).taskrouter.v1.workspaces(WS)
        available = workspace.activities.list(friendly_name="Available")[0].sid
        sids = []
        for n in range(5):
            worker = workspace.workers.create(
                friendly_name=f"agent{n}", attributes=json.dumps({"level": n, "skills": ["support"]})
            )
            sids.append(worker.sid)
        assert json.loads(worker.attributes) == {"level": 4, "skills": ["support"]}
        assert worker.activity_name == "Offline" and worker.available is False
        assert isinstance(worker.date_created, datetime)

        assert [w.sid for w in workspace.workers.list(page_size=2)] == sids  # three pages
        assert [w.friendly_name for w in workspace.workers.list(target_workers_expression="level >= 3")] == [
            "agent3",
            "agent4",
        ]

        info = workspace.workers(sids[0]).fetch_with_http_info()
        assert info.status_code == 200 and info.headers["ETag"] == '"0"'
        moved = workspace.workers(sids[0]).update(activity_sid=available, if_match=info.headers["ETag"])
        assert moved.available is True and moved.activity_name == "Available"
        with pytest.raises(TwilioRestException) as stale:
            workspace.workers(sids[0]).update(attributes="{}", if_match='"0"')
        assert (stale.value.status, stale.value.code) == (412, 20412)
        assert json.loads(workspace.workers(sids[0]).fetch().attributes) == {"level": 0, "skills": ["support"]}

        assert [w.sid for w in workspace.workers.list(available="1")] == [sids[0]]
        assert [w.sid for w in workspace.workers.list(ordering="DateStatusChanged:desc", limit=1)] == [sids[0]]

        with pytest.raises(TwilioRestException) as bad:
            workspace.workers.create(friendly_name="AGENT1")
        assert (bad.value.status, bad.value.code) == (400, 20001)

        # twilio 9.13's WorkerContext._delete builds the If-Match header and then discards it, so the
        # library cannot send a conditional delete; test_workers.py checks If-Match on DELETE over raw HTTP.
        assert workspace.workers(sids[1]).delete() is True
        assert workspace.workers(sids[2]).delete() is True
        assert [w.sid for w in workspace.workers.list()] == [sids[0], sids[3], sids[4]]

    await asyncio.to_thread(scenario)


async def test_events_list_and_fetch(emulator):
    def scenario() -> None:
        workspace = client_for(emulator).taskrouter.v1.workspaces(WS)
        worker = workspace.workers.create(friendly_name="Evented")
        offline = worker.activity_sid
        available = workspace.activities.list(friendly_name="Available")[0].sid
        workspace.workers(worker.sid).update(activity_sid=available)
        mine = workspace.events.list(worker_sid=worker.sid)
        assert [e.event_type for e in mine] == ["worker.created", "worker.activity.update"]
        assert mine[1].event_data["worker_previous_activity_sid"] == offline
        fetched = workspace.events(mine[1].sid).fetch()
        assert fetched.description == "Worker Evented updated to Available Activity"
        assert fetched.resource_sid == worker.sid and fetched.event_date_ms == mine[1].event_date_ms
        everything = workspace.events.list(page_size=3)  # several pages
        assert [e.sid for e in everything][-2:] == [e.sid for e in mine]
        since = datetime.now(UTC) - timedelta(days=1)
        assert len(workspace.events.list(start_date=since, event_type="worker.created")) == 1
        # The library reports a failed list page as TwilioException("Unable to fetch page", response).
        with pytest.raises(TwilioException) as too_old:
            workspace.events.list(start_date=datetime.now(UTC) - timedelta(days=45))
        response = too_old.value.args[1]
        assert response.status_code == 400 and json.loads(response.text)["code"] == 20001

    await asyncio.to_thread(scenario)


async def test_workspaces_through_the_library(emulator):
    def scenario() -> None:
        taskrouter = client_for(emulator).taskrouter.v1
        created = taskrouter.workspaces.create(friendly_name="Lib", prioritize_queue_order="LIFO")
        assert created.default_activity_name == "Offline" and created.prioritize_queue_order == "LIFO"
        assert taskrouter.workspaces(created.sid).update(friendly_name="Lib2").friendly_name == "Lib2"
        assert {w.friendly_name for w in taskrouter.workspaces.list()} == {defaults.DEFAULT_WORKSPACE_NAME, "Lib2"}
        assert taskrouter.workspaces(created.sid).delete() is True

    await asyncio.to_thread(scenario)


async def test_call_events_through_the_library(emulator, emulator_http):
    event = {
        "request": {"url": "https://example.com/v", "parameters": {"CallStatus": "ringing"}},
        "response": {"response_code": 200},
    }
    async with emulator_http.post("/admin/calls", json={"events": [event] * 5}) as resp:
        call_sid = (await resp.json())["sid"]

    def scenario() -> None:
        events = client_for(emulator).calls(call_sid).events.list(page_size=2)  # follows next_page_uri
        assert len(events) == 5
        assert events[0].request["parameters"] == {"call_status": "ringing"}
        assert events[0].response["response_code"] == 200

    await asyncio.to_thread(scenario)


async def test_api_key_credentials(emulator):
    def scenario() -> None:
        workspace = client_for(emulator, api_key=True).taskrouter.v1.workspaces(WS)
        assert workspace.workers.create(friendly_name="keyed").friendly_name == "keyed"

    await asyncio.to_thread(scenario)


async def test_wrong_credentials(emulator):
    def scenario() -> None:
        with pytest.raises(TwilioRestException) as denied:
            client_for(emulator, token="wrong").taskrouter.v1.workspaces(WS).fetch()
        assert (denied.value.status, denied.value.code) == (401, 20003)

    await asyncio.to_thread(scenario)
