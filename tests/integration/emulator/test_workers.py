"""Workers over real HTTP (the Worker Resource page): create, fetch, update, delete, ETag/If-Match, names, limits."""

from __future__ import annotations

import aiohttp
import pytest

from taskrouter_emulator import defaults
from taskrouter_emulator.store import WorkerFilters
from taskrouter_emulator.testing import expect_twilio_error

WS = defaults.DEFAULT_WORKSPACE_SID
WORKERS = f"/v1/Workspaces/{WS}/Workers"


@pytest.fixture
async def activity(emulator_http) -> dict[str, str]:
    """The default workspace's activity SIDs by name."""
    async with emulator_http.get(f"/v1/Workspaces/{WS}/Activities") as resp:
        return {a["friendly_name"]: a["sid"] for a in (await resp.json())["activities"]}


async def create_worker(http, **form) -> tuple[dict, str]:
    async with http.post(WORKERS, data=form) as resp:
        body = await resp.json()
        assert resp.status == 201, body
        return body, resp.headers["ETag"]


async def fetch_worker(http, sid: str) -> tuple[dict, str]:
    async with http.get(f"{WORKERS}/{sid}") as resp:
        assert resp.status == 200
        return await resp.json(), resp.headers["ETag"]


async def update_worker(http, sid: str, headers: dict | None = None, **form) -> tuple[dict, str]:
    async with http.post(f"{WORKERS}/{sid}", data=form, headers=headers) as resp:
        body = await resp.json()
        assert resp.status == 200, body
        return body, resp.headers["ETag"]


async def list_workers(http, **query) -> list[dict]:
    async with http.get(WORKERS, params={"PageSize": 1000, **query}) as resp:
        assert resp.status == 200
        return (await resp.json())["workers"]


async def test_create_defaults_to_the_workspace_default_activity_and_empty_attributes(
    emulator_http, emulator, activity
):
    worker, etag = await create_worker(emulator_http, FriendlyName="Alice")
    assert worker["sid"].startswith("WK") and len(worker["sid"]) == 34
    assert (worker["activity_sid"], worker["activity_name"], worker["available"]) == (
        activity["Offline"],
        "Offline",
        False,
    )
    assert worker["attributes"] == "{}"
    assert worker["date_status_changed"] == worker["date_created"] == worker["date_updated"]
    assert etag == '"0"'
    assert worker["url"] == f"{emulator.base_url}{WORKERS}/{worker['sid']}"
    assert worker["links"]["activity"] == f"{emulator.base_url}/v1/Workspaces/{WS}/Activities/{activity['Offline']}"
    assert worker["links"]["workspace"] == f"{emulator.base_url}/v1/Workspaces/{WS}"
    assert await fetch_worker(emulator_http, worker["sid"]) == (worker, '"0"')


async def test_create_with_activity_and_attributes_keeps_attributes_byte_for_byte(emulator_http, activity):
    attributes = '{ "skills": ["support", "sales"],\n  "languages":["english"], "level": 3 }'
    worker, _ = await create_worker(
        emulator_http, FriendlyName="Bob", ActivitySid=activity["Available"], Attributes=attributes
    )
    assert worker["attributes"] == attributes
    assert (worker["activity_name"], worker["available"]) == ("Available", True)
    fetched, _ = await fetch_worker(emulator_http, worker["sid"])
    assert fetched["attributes"] == attributes


@pytest.mark.parametrize(
    "form, mentions",
    [
        ({}, "FriendlyName"),
        ({"FriendlyName": ""}, "FriendlyName"),
        ({"FriendlyName": "n" * 65}, "64"),
        ({"FriendlyName": "ok", "Attributes": "{not json"}, "Attributes"),
        ({"FriendlyName": "ok", "Attributes": ""}, "Attributes"),
        ({"FriendlyName": "ok", "Attributes": "[1, 2]"}, "JSON object"),
        ({"FriendlyName": "ok", "Attributes": '"text"'}, "JSON object"),
        ({"FriendlyName": "ok", "Attributes": "42"}, "JSON object"),
        ({"FriendlyName": "ok", "Attributes": "null"}, "JSON object"),
        ({"FriendlyName": "ok", "ActivitySid": "foo"}, "ActivitySid"),
        ({"FriendlyName": "ok", "ActivitySid": "WA" + "f" * 32}, "WA" + "f" * 32),
    ],
)
async def test_create_rejects_bad_input_and_creates_nothing(emulator_http, emulator, form, mentions):
    before = await list_workers(emulator_http)
    events_before = emulator.context.store.counts()["events"]
    async with emulator_http.post(WORKERS, data=form) as resp:
        body = await expect_twilio_error(resp, 400, 20001)
    assert mentions in body["message"]
    assert await list_workers(emulator_http) == before
    assert emulator.context.store.counts()["events"] == events_before


@pytest.mark.parametrize("duplicate", ["Carol", "carol", "CAROL", "cArOl"])
async def test_worker_names_are_unique_ignoring_case(emulator_http, duplicate):
    original, _ = await create_worker(emulator_http, FriendlyName="Carol")
    async with emulator_http.post(WORKERS, data={"FriendlyName": duplicate}) as resp:
        body = await expect_twilio_error(resp, 400, 20001)
    assert "already exists" in body["message"]
    assert [w["sid"] for w in await list_workers(emulator_http)] == [original["sid"]]


async def test_names_are_unique_per_workspace_only(emulator_http):
    await create_worker(emulator_http, FriendlyName="Dave")
    async with emulator_http.post("/v1/Workspaces", data={"FriendlyName": "Other"}) as resp:
        other = (await resp.json())["sid"]
    async with emulator_http.post(f"/v1/Workspaces/{other}/Workers", data={"FriendlyName": "Dave"}) as resp:
        assert resp.status == 201


async def test_activity_of_another_workspace_is_refused(emulator_http):
    async with emulator_http.post("/v1/Workspaces", data={"FriendlyName": "Other"}) as resp:
        other = await resp.json()
    async with emulator_http.post(
        WORKERS, data={"FriendlyName": "x", "ActivitySid": other["default_activity_sid"]}
    ) as r:
        await expect_twilio_error(r, 400, 20001)


async def test_attributes_appear_on_single_responses_and_are_null_in_lists(emulator_http):
    worker, _ = await create_worker(emulator_http, FriendlyName="Eve", Attributes='{"a": 1}')
    [listed] = await list_workers(emulator_http)
    assert listed["attributes"] is None
    assert {k: v for k, v in listed.items() if k != "attributes"} == {
        k: v for k, v in worker.items() if k != "attributes"
    }


async def test_activity_change_moves_availability_status_date_version_and_etag(emulator_http, emulator_clock, activity):
    worker, etag = await create_worker(emulator_http, FriendlyName="Frank")
    emulator_clock.advance(90)
    updated, new_etag = await update_worker(emulator_http, worker["sid"], ActivitySid=activity["Available"])
    assert (updated["activity_name"], updated["available"]) == ("Available", True)
    assert updated["date_status_changed"] > worker["date_status_changed"]
    assert updated["date_updated"] == updated["date_status_changed"]
    assert (etag, new_etag) == ('"0"', '"1"')
    assert await fetch_worker(emulator_http, worker["sid"]) == (updated, '"1"')


async def test_attribute_or_name_change_leaves_date_status_changed_alone(emulator_http, emulator_clock):
    worker, _ = await create_worker(emulator_http, FriendlyName="Grace")
    emulator_clock.advance(120)
    updated, etag = await update_worker(emulator_http, worker["sid"], Attributes='{"x": true}', FriendlyName="Gracie")
    assert (updated["attributes"], updated["friendly_name"]) == ('{"x": true}', "Gracie")
    assert updated["date_status_changed"] == worker["date_status_changed"]
    assert updated["date_updated"] > worker["date_updated"]
    assert etag == '"1"'


async def test_update_to_the_same_values_changes_nothing(emulator_http, emulator_clock, activity):
    worker, _ = await create_worker(emulator_http, FriendlyName="Heidi", Attributes='{"a":1}')
    emulator_clock.advance(60)
    same, etag = await update_worker(
        emulator_http, worker["sid"], ActivitySid=activity["Offline"], Attributes='{"a":1}', FriendlyName="Heidi"
    )
    assert (same, etag) == (worker, '"0"')


async def test_rename_to_a_different_case_of_its_own_name_is_allowed(emulator_http):
    worker, _ = await create_worker(emulator_http, FriendlyName="ivan")
    updated, _ = await update_worker(emulator_http, worker["sid"], FriendlyName="Ivan")
    assert updated["friendly_name"] == "Ivan"
    # The old spelling is free for nobody else: the name (ignoring case) is still Ivan's.
    async with emulator_http.post(WORKERS, data={"FriendlyName": "IVAN"}) as resp:
        await expect_twilio_error(resp, 400, 20001)


async def test_rename_frees_the_old_name(emulator_http):
    worker, _ = await create_worker(emulator_http, FriendlyName="Judy")
    await update_worker(emulator_http, worker["sid"], FriendlyName="Judith")
    again, _ = await create_worker(emulator_http, FriendlyName="judy")
    assert again["friendly_name"] == "judy"


@pytest.mark.parametrize(
    "form",
    [
        {"Attributes": "{oops"},
        {"Attributes": "[]"},
        {"FriendlyName": "k" * 65},
        {"FriendlyName": ""},
        {"FriendlyName": "TAKEN"},
        {"ActivitySid": "WA" + "a" * 32},
        {"ActivitySid": "nope"},
        {"RejectPendingReservations": "perhaps"},
        # only valid when the new activity is unavailable (the Worker Resource page)
        {"ActivitySid": "AVAILABLE", "RejectPendingReservations": "true"},
        # a valid change combined with an invalid one applies neither
        {"ActivitySid": "AVAILABLE", "Attributes": "not json"},
    ],
)
async def test_update_rejects_bad_input_and_changes_nothing(emulator_http, emulator, activity, form):
    await create_worker(emulator_http, FriendlyName="Taken")
    worker, _ = await create_worker(emulator_http, FriendlyName="Ken", Attributes='{"k": 1}')
    form = {k: (activity["Available"] if v == "AVAILABLE" else v) for k, v in form.items()}
    events_before = emulator.context.store.counts()["events"]
    async with emulator_http.post(f"{WORKERS}/{worker['sid']}", data=form) as resp:
        await expect_twilio_error(resp, 400, 20001)
    assert await fetch_worker(emulator_http, worker["sid"]) == (worker, '"0"')
    assert emulator.context.store.counts()["events"] == events_before


async def test_reject_pending_reservations_with_an_unavailable_activity_is_accepted(emulator_http, activity):
    worker, _ = await create_worker(emulator_http, FriendlyName="Leo", ActivitySid=activity["Available"])
    updated, _ = await update_worker(
        emulator_http, worker["sid"], ActivitySid=activity["Unavailable"], RejectPendingReservations="true"
    )
    assert updated["activity_name"] == "Unavailable"


@pytest.mark.parametrize("if_match", ['"0"', "0", 'W/"0"', "*", '"7", "0"'])
async def test_update_with_a_matching_if_match_succeeds(emulator_http, activity, if_match):
    worker, _ = await create_worker(emulator_http, FriendlyName="Mallory")
    updated, etag = await update_worker(
        emulator_http, worker["sid"], headers={"If-Match": if_match}, ActivitySid=activity["Available"]
    )
    assert updated["available"] is True and etag == '"1"'


@pytest.mark.parametrize("if_match", ['"1"', "1", '"abc"', ""])
async def test_update_with_a_stale_if_match_is_412_and_changes_nothing(emulator_http, activity, if_match):
    worker, _ = await create_worker(emulator_http, FriendlyName="Niaj")
    await update_worker(emulator_http, worker["sid"], Attributes='{"v": 1}')  # now version 1
    current = await fetch_worker(emulator_http, worker["sid"])
    stale = '"0"' if if_match in ('"1"', "1") else if_match
    async with emulator_http.post(
        f"{WORKERS}/{worker['sid']}", data={"ActivitySid": activity["Available"]}, headers={"If-Match": stale}
    ) as resp:
        body = await expect_twilio_error(resp, 412, 20412)
    assert worker["sid"] in body["message"]
    assert await fetch_worker(emulator_http, worker["sid"]) == current


async def test_delete_honours_if_match(emulator_http):
    worker, _ = await create_worker(emulator_http, FriendlyName="Olivia")
    async with emulator_http.delete(f"{WORKERS}/{worker['sid']}", headers={"If-Match": '"5"'}) as resp:
        await expect_twilio_error(resp, 412, 20412)
    assert (await fetch_worker(emulator_http, worker["sid"]))[0] == worker
    async with emulator_http.delete(f"{WORKERS}/{worker['sid']}", headers={"If-Match": '"0"'}) as resp:
        assert resp.status == 204
    async with emulator_http.get(f"{WORKERS}/{worker['sid']}") as resp:
        await expect_twilio_error(resp, 404, 20404)


async def test_delete_frees_the_name_and_a_second_delete_is_404(emulator_http):
    worker, _ = await create_worker(emulator_http, FriendlyName="Peggy")
    async with emulator_http.delete(f"{WORKERS}/{worker['sid']}") as resp:
        assert resp.status == 204
    async with emulator_http.delete(f"{WORKERS}/{worker['sid']}") as resp:
        await expect_twilio_error(resp, 404, 20404)
    await create_worker(emulator_http, FriendlyName="PEGGY")


@pytest.mark.parametrize("sid", ["abc", "WK123", "WA" + "0" * 32, "WK" + "x" * 32, "WK" + "0" * 32])
async def test_malformed_or_unknown_worker_sid_in_path_is_404(emulator_http, sid):
    for method in ("GET", "POST", "DELETE"):
        path = f"{WORKERS}/{sid}"
        async with emulator_http.request(method, path, data={"FriendlyName": "z"}) as resp:
            body = await expect_twilio_error(resp, 404, 20404)
            assert body["message"] == f"The requested resource {path} was not found"


async def test_workers_of_an_unknown_workspace_are_404(emulator_http):
    async with emulator_http.get("/v1/Workspaces/WS" + "9" * 32 + "/Workers") as resp:
        await expect_twilio_error(resp, 404, 20404)
    async with emulator_http.post("/v1/Workspaces/nope/Workers", data={"FriendlyName": "x"}) as resp:
        await expect_twilio_error(resp, 404, 20404)


async def test_at_most_15000_workers_per_workspace(emulator_http, emulator):
    store = emulator.context.store
    # Filling through the store keeps this fast; the limit itself is then checked over HTTP.
    for n in range(defaults.MAX_WORKERS_PER_WORKSPACE):
        store.create_worker(WS, f"filler-{n}")
    async with emulator_http.post(WORKERS, data={"FriendlyName": "one-too-many"}) as resp:
        body = await expect_twilio_error(resp, 400, 20001)
    assert "15000" in body["message"]
    assert store.counts()["workers"] == defaults.MAX_WORKERS_PER_WORKSPACE
    # Deleting one makes room again.
    sid = store.list_workers(WS, WorkerFilters())[0][0].sid
    async with emulator_http.delete(f"{WORKERS}/{sid}") as resp:
        assert resp.status == 204
    await create_worker(emulator_http, FriendlyName="fits-again")


async def test_a_file_upload_where_a_value_belongs_is_400(emulator_http):
    form = aiohttp.FormData()
    form.add_field("FriendlyName", "Uploader")
    form.add_field("Attributes", b'{"a": 1}', filename="attributes.json", content_type="application/json")
    async with emulator_http.post(WORKERS, data=form) as resp:
        body = await expect_twilio_error(resp, 400, 20001)
    assert "Attributes" in body["message"]
    assert await list_workers(emulator_http) == []


async def test_an_oversized_body_is_413_in_twilio_shape(emulator_http):
    huge = '{"blob": "' + "x" * (2 * 1024 * 1024) + '"}'
    async with emulator_http.post(WORKERS, data={"FriendlyName": "Huge", "Attributes": huge}) as resp:
        await expect_twilio_error(resp, 413, 20001)
    assert await list_workers(emulator_http) == []
