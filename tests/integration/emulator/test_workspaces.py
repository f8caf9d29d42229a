"""Workspaces over real HTTP: create, fetch, list, update, delete, and the default workspace."""

from __future__ import annotations

import pytest

from taskrouter_emulator import defaults
from taskrouter_emulator.testing import expect_twilio_error

WS = defaults.DEFAULT_WORKSPACE_SID


async def list_workspaces(http, **query) -> list[dict]:
    async with http.get("/v1/Workspaces", params=query) as resp:
        assert resp.status == 200
        return (await resp.json())["workspaces"]


async def activities_by_name(http, workspace_sid: str) -> dict[str, dict]:
    async with http.get(f"/v1/Workspaces/{workspace_sid}/Activities") as resp:
        assert resp.status == 200
        return {a["friendly_name"]: a for a in (await resp.json())["activities"]}


async def create_workspace(http, **form) -> dict:
    async with http.post("/v1/Workspaces", data=form) as resp:
        body = await resp.json()
        assert resp.status == 201, body
        return body


async def test_default_workspace_exists_with_the_three_default_activities(emulator_http, emulator):
    async with emulator_http.get(f"/v1/Workspaces/{WS}") as resp:
        assert resp.status == 200
        ws = await resp.json()
    assert ws["friendly_name"] == defaults.DEFAULT_WORKSPACE_NAME
    assert ws["account_sid"] == emulator.config.account_sid
    activities = await activities_by_name(emulator_http, WS)
    assert {name: a["available"] for name, a in activities.items()} == {
        "Offline": False,
        "Unavailable": False,
        "Available": True,
    }
    assert ws["default_activity_sid"] == ws["timeout_activity_sid"] == activities["Offline"]["sid"]
    assert ws["default_activity_name"] == ws["timeout_activity_name"] == "Offline"
    assert ws["url"] == f"{emulator.base_url}/v1/Workspaces/{WS}"
    assert ws["links"]["workers"] == f"{emulator.base_url}/v1/Workspaces/{WS}/Workers"


async def test_create_workspace_returns_it_with_its_own_default_activities(emulator_http):
    ws = await create_workspace(
        emulator_http,
        FriendlyName="Support",
        EventCallbackUrl="https://example.com/events",
        EventsFilter="worker.created,worker.deleted",
        MultiTaskEnabled="true",
        PrioritizeQueueOrder="LIFO",
    )
    assert ws["sid"].startswith("WS") and ws["sid"] != WS
    assert (ws["friendly_name"], ws["event_callback_url"], ws["events_filter"]) == (
        "Support",
        "https://example.com/events",
        "worker.created,worker.deleted",
    )
    assert ws["multi_task_enabled"] is True and ws["prioritize_queue_order"] == "LIFO"
    activities = await activities_by_name(emulator_http, ws["sid"])
    assert sorted(activities) == ["Available", "Offline", "Unavailable"]
    assert ws["default_activity_sid"] == ws["timeout_activity_sid"] == activities["Offline"]["sid"]
    # The new workspace's activities are its own, not the default workspace's.
    assert activities["Offline"]["sid"] != (await activities_by_name(emulator_http, WS))["Offline"]["sid"]
    async with emulator_http.get(f"/v1/Workspaces/{ws['sid']}") as resp:
        assert await resp.json() == ws


async def test_create_defaults_without_optional_parameters(emulator_http):
    ws = await create_workspace(emulator_http, FriendlyName="Plain")
    assert ws["event_callback_url"] is None and ws["events_filter"] is None
    assert ws["multi_task_enabled"] is True and ws["prioritize_queue_order"] == "FIFO"


@pytest.mark.parametrize(
    "form, mentions",
    [
        ({}, "FriendlyName"),
        ({"FriendlyName": "   "}, "FriendlyName"),
        ({"FriendlyName": "x" * 65}, "64"),
        ({"FriendlyName": "ok", "EventCallbackUrl": "not a url"}, "EventCallbackUrl"),
        ({"FriendlyName": "ok", "EventCallbackUrl": "ftp://example.com/x"}, "EventCallbackUrl"),
        ({"FriendlyName": "ok", "EventsFilter": "worker.created,worker.exploded"}, "worker.exploded"),
        ({"FriendlyName": "ok", "MultiTaskEnabled": "maybe"}, "MultiTaskEnabled"),
        ({"FriendlyName": "ok", "PrioritizeQueueOrder": "RANDOM"}, "PrioritizeQueueOrder"),
        ({"FriendlyName": "ok", "Template": "FANCY"}, "Template"),
    ],
)
async def test_create_rejects_bad_input_and_creates_nothing(emulator_http, form, mentions):
    before = await list_workspaces(emulator_http)
    async with emulator_http.post("/v1/Workspaces", data=form) as resp:
        body = await expect_twilio_error(resp, 400, 20001)
    assert mentions in body["message"]
    assert await list_workspaces(emulator_http) == before


async def test_friendly_name_of_exactly_64_characters_is_accepted(emulator_http):
    ws = await create_workspace(emulator_http, FriendlyName="w" * 64)
    assert ws["friendly_name"] == "w" * 64


async def test_list_filters_by_friendly_name(emulator_http):
    a = await create_workspace(emulator_http, FriendlyName="Alpha")
    await create_workspace(emulator_http, FriendlyName="Beta")
    assert [w["sid"] for w in await list_workspaces(emulator_http, FriendlyName="Alpha")] == [a["sid"]]
    assert await list_workspaces(emulator_http, FriendlyName="Gamma") == []
    assert len(await list_workspaces(emulator_http)) == 3


async def test_update_changes_every_updatable_field(emulator_http):
    ws = await create_workspace(emulator_http, FriendlyName="Before")
    activities = await activities_by_name(emulator_http, ws["sid"])
    form = {
        "FriendlyName": "After",
        "EventCallbackUrl": "http://127.0.0.1:9/cb",
        "EventsFilter": "worker.activity.update",
        "DefaultActivitySid": activities["Available"]["sid"],
        "TimeoutActivitySid": activities["Unavailable"]["sid"],
        "MultiTaskEnabled": "True",
        "PrioritizeQueueOrder": "LIFO",
    }
    async with emulator_http.post(f"/v1/Workspaces/{ws['sid']}", data=form) as resp:
        assert resp.status == 200
        updated = await resp.json()
    assert updated["friendly_name"] == "After"
    assert updated["event_callback_url"] == "http://127.0.0.1:9/cb"
    assert updated["events_filter"] == "worker.activity.update"
    assert (updated["default_activity_sid"], updated["default_activity_name"]) == (
        activities["Available"]["sid"],
        "Available",
    )
    assert (updated["timeout_activity_sid"], updated["timeout_activity_name"]) == (
        activities["Unavailable"]["sid"],
        "Unavailable",
    )
    assert updated["multi_task_enabled"] is True and updated["prioritize_queue_order"] == "LIFO"
    async with emulator_http.get(f"/v1/Workspaces/{ws['sid']}") as resp:
        assert await resp.json() == updated


async def test_update_with_empty_values_clears_callback_url_and_filter(emulator_http):
    ws = await create_workspace(
        emulator_http, FriendlyName="Clear", EventCallbackUrl="https://example.com/e", EventsFilter="worker.created"
    )
    async with emulator_http.post(
        f"/v1/Workspaces/{ws['sid']}", data={"EventCallbackUrl": "", "EventsFilter": ""}
    ) as r:
        updated = await r.json()
    assert updated["event_callback_url"] is None and updated["events_filter"] is None
    assert updated["friendly_name"] == "Clear"


async def test_new_default_activity_is_used_for_new_workers(emulator_http):
    ws = await create_workspace(emulator_http, FriendlyName="Defaults")
    available = (await activities_by_name(emulator_http, ws["sid"]))["Available"]["sid"]
    async with emulator_http.post(f"/v1/Workspaces/{ws['sid']}", data={"DefaultActivitySid": available}) as resp:
        assert resp.status == 200
    async with emulator_http.post(f"/v1/Workspaces/{ws['sid']}/Workers", data={"FriendlyName": "w"}) as resp:
        worker = await resp.json()
    assert worker["activity_sid"] == available and worker["available"] is True


@pytest.mark.parametrize(
    "form",
    [
        {"DefaultActivitySid": "WA" + "f" * 32},  # well-formed, not in this workspace
        {"TimeoutActivitySid": "WA" + "f" * 32},
        {"DefaultActivitySid": "foo"},
        {"FriendlyName": "y" * 65},
        {"FriendlyName": ""},
        {"MultiTaskEnabled": "2"},
        {"PrioritizeQueueOrder": "fifo"},
        {"EventCallbackUrl": "example.com/no-scheme"},
    ],
)
async def test_update_rejects_bad_input_and_changes_nothing(emulator_http, form):
    async with emulator_http.get(f"/v1/Workspaces/{WS}") as resp:
        before = await resp.json()
    async with emulator_http.post(f"/v1/Workspaces/{WS}", data=form) as resp:
        await expect_twilio_error(resp, 400, 20001)
    async with emulator_http.get(f"/v1/Workspaces/{WS}") as resp:
        assert await resp.json() == before


async def test_activity_of_another_workspace_cannot_become_the_default(emulator_http):
    other = await create_workspace(emulator_http, FriendlyName="Other")
    foreign = (await activities_by_name(emulator_http, other["sid"]))["Available"]["sid"]
    async with emulator_http.post(f"/v1/Workspaces/{WS}", data={"DefaultActivitySid": foreign}) as resp:
        body = await expect_twilio_error(resp, 400, 20001)
    assert foreign in body["message"]


async def test_delete_removes_the_workspace_and_everything_in_it(emulator_http):
    ws = await create_workspace(emulator_http, FriendlyName="Doomed")
    async with emulator_http.post(f"/v1/Workspaces/{ws['sid']}/Workers", data={"FriendlyName": "w"}) as resp:
        worker = await resp.json()
    async with emulator_http.delete(f"/v1/Workspaces/{ws['sid']}") as resp:
        assert resp.status == 204
        assert await resp.read() == b""
    for path in (
        f"/v1/Workspaces/{ws['sid']}",
        f"/v1/Workspaces/{ws['sid']}/Activities",
        f"/v1/Workspaces/{ws['sid']}/Workers/{worker['sid']}",
        f"/v1/Workspaces/{ws['sid']}/Events",
    ):
        async with emulator_http.get(path) as resp:
            body = await expect_twilio_error(resp, 404, 20404)
            assert body["message"] == f"The requested resource {path} was not found"
    async with emulator_http.delete(f"/v1/Workspaces/{ws['sid']}") as resp:
        await expect_twilio_error(resp, 404, 20404)
    assert ws["sid"] not in [w["sid"] for w in await list_workspaces(emulator_http)]


@pytest.mark.parametrize("sid", ["abc", "WS123", "WA" + "0" * 32, "WS" + "g" * 32, "WS" + "f" * 32])
async def test_malformed_or_unknown_workspace_sid_in_path_is_404(emulator_http, sid):
    # Twilio answers a malformed path SID the way it answers an unknown one: 404, code 20404.
    for method in ("GET", "POST", "DELETE"):
        async with emulator_http.request(method, f"/v1/Workspaces/{sid}") as resp:
            body = await expect_twilio_error(resp, 404, 20404)
            assert body["message"] == f"The requested resource /v1/Workspaces/{sid} was not found"


async def test_unknown_route_and_wrong_method_answer_in_twilio_shape(emulator_http):
    async with emulator_http.get("/v1/Nothing") as resp:
        await expect_twilio_error(resp, 404, 20404)
    async with emulator_http.put("/v1/Workspaces") as resp:
        await expect_twilio_error(resp, 405, 20004)


async def test_workspace_events_are_recorded(emulator_http):
    ws = await create_workspace(emulator_http, FriendlyName="Evented")
    async with emulator_http.post(f"/v1/Workspaces/{ws['sid']}", data={"FriendlyName": "Renamed"}) as resp:
        assert resp.status == 200
    async with emulator_http.get(f"/v1/Workspaces/{ws['sid']}/Events") as resp:
        events = (await resp.json())["events"]
    workspace_events = [e for e in events if e["resource_type"] == "workspace"]
    assert [e["event_type"] for e in workspace_events] == ["workspace.created", "workspace.updated"]
    assert workspace_events[0]["event_data"] == {"workspace_sid": ws["sid"], "workspace_name": "Evented"}
    assert workspace_events[1]["event_data"] == {"workspace_sid": ws["sid"], "workspace_name": "Renamed"}
    assert workspace_events[1]["description"] == "Workspace Renamed updated"
    assert [e["event_type"] for e in events if e["resource_type"] == "activity"] == ["activity.created"] * 3


async def test_update_without_changes_records_no_event(emulator_http):
    async with emulator_http.post(f"/v1/Workspaces/{WS}", data={"FriendlyName": defaults.DEFAULT_WORKSPACE_NAME}) as r:
        assert r.status == 200
    async with emulator_http.get(f"/v1/Workspaces/{WS}/Events", params={"EventType": "workspace.updated"}) as resp:
        assert (await resp.json())["events"] == []
