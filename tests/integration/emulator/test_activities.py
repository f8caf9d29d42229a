"""Activities over real HTTP (the Activity Resource page): create, fetch, list filters, update, delete refusals, limit."""

from __future__ import annotations

import pytest

from taskrouter_emulator import defaults
from taskrouter_emulator.testing import expect_twilio_error

WS = defaults.DEFAULT_WORKSPACE_SID
ACTIVITIES = f"/v1/Workspaces/{WS}/Activities"


async def create_activity(http, **form) -> dict:
    async with http.post(ACTIVITIES, data=form) as resp:
        body = await resp.json()
        assert resp.status == 201, body
        return body


async def list_activities(http, **query) -> list[dict]:
    async with http.get(ACTIVITIES, params=query) as resp:
        assert resp.status == 200
        return (await resp.json())["activities"]


async def default_sids(http) -> dict[str, str]:
    return {a["friendly_name"]: a["sid"] for a in await list_activities(http)}


@pytest.mark.parametrize(
    "value, expected",
    [
        ("true", True),
        ("1", True),
        ("yes", True),
        ("TRUE", True),
        ("Yes", True),
        ("false", False),
        ("0", False),
        ("no", False),
        ("banana", False),
        (None, False),
    ],
)
async def test_available_is_true_only_for_true_1_or_yes(emulator_http, value, expected):
    form = {"FriendlyName": f"act-{value}"}
    if value is not None:
        form["Available"] = value
    act = await create_activity(emulator_http, **form)
    assert act["available"] is expected
    async with emulator_http.get(f"{ACTIVITIES}/{act['sid']}") as resp:
        assert (await resp.json())["available"] is expected


async def test_create_returns_the_activity_with_url_and_links(emulator_http, emulator):
    act = await create_activity(emulator_http, FriendlyName="Lunch", Available="false")
    assert act["sid"].startswith("WA") and len(act["sid"]) == 34
    assert act["friendly_name"] == "Lunch" and act["workspace_sid"] == WS
    assert act["account_sid"] == emulator.config.account_sid
    assert act["url"] == f"{emulator.base_url}{ACTIVITIES}/{act['sid']}"
    assert act["links"] == {"workspace": f"{emulator.base_url}/v1/Workspaces/{WS}"}
    async with emulator_http.get(f"{ACTIVITIES}/{act['sid']}") as resp:
        assert await resp.json() == act


@pytest.mark.parametrize("form", [{}, {"FriendlyName": ""}, {"Available": "true"}, {"FriendlyName": "a" * 65}])
async def test_create_rejects_missing_or_long_names_and_creates_nothing(emulator_http, form):
    before = await list_activities(emulator_http)
    async with emulator_http.post(ACTIVITIES, data=form) as resp:
        await expect_twilio_error(resp, 400, 20001)
    assert await list_activities(emulator_http) == before


async def test_name_of_64_characters_is_accepted(emulator_http):
    assert (await create_activity(emulator_http, FriendlyName="a" * 64))["friendly_name"] == "a" * 64


async def test_list_filters_by_friendly_name_and_available(emulator_http):
    await create_activity(emulator_http, FriendlyName="Break", Available="false")
    await create_activity(emulator_http, FriendlyName="Phone", Available="true")
    names = lambda acts: sorted(a["friendly_name"] for a in acts)  # noqa: E731
    assert names(await list_activities(emulator_http, FriendlyName="Break")) == ["Break"]
    assert names(await list_activities(emulator_http, FriendlyName="Nope")) == []
    for truthy in ("true", "1", "yes", "YES"):
        assert names(await list_activities(emulator_http, Available=truthy)) == ["Available", "Phone"]
    for falsy in ("false", "0", "anything"):
        assert names(await list_activities(emulator_http, Available=falsy)) == ["Break", "Offline", "Unavailable"]
    assert names(await list_activities(emulator_http, FriendlyName="Phone", Available="false")) == []


async def test_update_renames_and_workers_see_the_new_name(emulator_http):
    act = await create_activity(emulator_http, FriendlyName="Old", Available="true")
    async with emulator_http.post(
        f"/v1/Workspaces/{WS}/Workers", data={"FriendlyName": "w", "ActivitySid": act["sid"]}
    ) as r:
        worker = await r.json()
    async with emulator_http.post(f"{ACTIVITIES}/{act['sid']}", data={"FriendlyName": "New"}) as resp:
        assert resp.status == 200
        updated = await resp.json()
    assert updated["friendly_name"] == "New" and updated["available"] is True
    async with emulator_http.get(f"/v1/Workspaces/{WS}/Workers/{worker['sid']}") as resp:
        assert (await resp.json())["activity_name"] == "New"


@pytest.mark.parametrize(
    "form",
    [
        {"Available": "false"},
        {"FriendlyName": "X", "Available": "true"},
        {"FriendlyName": "b" * 65},
        {"FriendlyName": " "},
    ],
)
async def test_update_rejects_available_and_bad_names_without_changing_anything(emulator_http, form):
    act = await create_activity(emulator_http, FriendlyName="Stable", Available="true")
    async with emulator_http.post(f"{ACTIVITIES}/{act['sid']}", data=form) as resp:
        await expect_twilio_error(resp, 400, 20001)
    async with emulator_http.get(f"{ACTIVITIES}/{act['sid']}") as resp:
        assert await resp.json() == act


async def test_delete_a_free_activity(emulator_http):
    act = await create_activity(emulator_http, FriendlyName="Temp")
    async with emulator_http.delete(f"{ACTIVITIES}/{act['sid']}") as resp:
        assert resp.status == 204
    async with emulator_http.get(f"{ACTIVITIES}/{act['sid']}") as resp:
        await expect_twilio_error(resp, 404, 20404)
    async with emulator_http.delete(f"{ACTIVITIES}/{act['sid']}") as resp:
        await expect_twilio_error(resp, 404, 20404)


async def test_delete_refuses_an_activity_a_worker_occupies(emulator_http):
    act = await create_activity(emulator_http, FriendlyName="Busy")
    async with emulator_http.post(
        f"/v1/Workspaces/{WS}/Workers", data={"FriendlyName": "w", "ActivitySid": act["sid"]}
    ) as r:
        worker = await r.json()
    async with emulator_http.delete(f"{ACTIVITIES}/{act['sid']}") as resp:
        body = await expect_twilio_error(resp, 400, 20001)
    assert "1 Worker" in body["message"]
    async with emulator_http.get(f"{ACTIVITIES}/{act['sid']}") as resp:
        assert resp.status == 200
    # Once the worker moves away, the activity can go.
    offline = (await default_sids(emulator_http))["Offline"]
    async with emulator_http.post(f"/v1/Workspaces/{WS}/Workers/{worker['sid']}", data={"ActivitySid": offline}) as r:
        assert r.status == 200
    async with emulator_http.delete(f"{ACTIVITIES}/{act['sid']}") as resp:
        assert resp.status == 204


@pytest.mark.parametrize("role", ["DefaultActivity", "TimeoutActivity"])
async def test_delete_refuses_the_workspace_default_and_timeout_activity(emulator_http, role):
    act = await create_activity(emulator_http, FriendlyName="Special")
    async with emulator_http.post(f"/v1/Workspaces/{WS}", data={f"{role}Sid": act["sid"]}) as resp:
        assert resp.status == 200
    async with emulator_http.delete(f"{ACTIVITIES}/{act['sid']}") as resp:
        body = await expect_twilio_error(resp, 400, 20001)
    assert role in body["message"]
    assert act["sid"] in [a["sid"] for a in await list_activities(emulator_http)]


async def test_offline_cannot_be_deleted_while_it_is_the_default(emulator_http):
    offline = (await default_sids(emulator_http))["Offline"]
    async with emulator_http.delete(f"{ACTIVITIES}/{offline}") as resp:
        await expect_twilio_error(resp, 400, 20001)


async def test_at_most_100_activities_per_workspace(emulator_http):
    async with emulator_http.post("/v1/Workspaces", data={"FriendlyName": "Full"}) as resp:
        ws = (await resp.json())["sid"]
    path = f"/v1/Workspaces/{ws}/Activities"
    for n in range(defaults.MAX_ACTIVITIES_PER_WORKSPACE - 3):  # 3 come with the workspace
        async with emulator_http.post(path, data={"FriendlyName": f"a{n}"}) as resp:
            assert resp.status == 201
    async with emulator_http.post(path, data={"FriendlyName": "one too many"}) as resp:
        body = await expect_twilio_error(resp, 400, 20001)
    assert "100" in body["message"]
    async with emulator_http.get(path, params={"PageSize": 1000}) as resp:
        assert len((await resp.json())["activities"]) == 100


@pytest.mark.parametrize("sid", ["foo", "WA" + "z" * 32, "WK" + "0" * 32, "WA" + "e" * 32])
async def test_malformed_or_unknown_activity_sid_in_path_is_404(emulator_http, sid):
    for method in ("GET", "POST", "DELETE"):
        async with emulator_http.request(method, f"{ACTIVITIES}/{sid}", data={"FriendlyName": "x"}) as resp:
            await expect_twilio_error(resp, 404, 20404)


async def test_activity_events_carry_sid_name_and_availability(emulator_http):
    act = await create_activity(emulator_http, FriendlyName="Coffee", Available="yes")
    async with emulator_http.post(f"{ACTIVITIES}/{act['sid']}", data={"FriendlyName": "Tea"}) as resp:
        assert resp.status == 200
    async with emulator_http.delete(f"{ACTIVITIES}/{act['sid']}") as resp:
        assert resp.status == 204
    async with emulator_http.get(f"/v1/Workspaces/{WS}/Events") as resp:
        events = [e for e in (await resp.json())["events"] if e["resource_sid"] == act["sid"]]
    assert [(e["event_type"], e["description"]) for e in events] == [
        ("activity.created", "Activity Coffee created"),
        ("activity.updated", "Activity Tea updated"),
        ("activity.deleted", "Activity Tea deleted"),
    ]
    assert [e["event_data"] for e in events] == [
        {"activity_sid": act["sid"], "activity_name": "Coffee", "activity_available": "true"},
        {"activity_sid": act["sid"], "activity_name": "Tea", "activity_available": "true"},
        {"activity_sid": act["sid"], "activity_name": "Tea", "activity_available": "true"},
    ]
    assert {e["resource_type"] for e in events} == {"activity"}
    assert events[0]["resource_url"] == act["url"]
