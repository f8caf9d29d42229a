"""Every Workers-list filter (the Worker Resource page): ActivityName, ActivitySid, Available, FriendlyName,
TargetWorkersExpression, TaskQueueName, TaskQueueSid, Ordering; alone, combined, and with bad values."""

from __future__ import annotations

import pytest

from taskrouter_emulator import defaults
from taskrouter_emulator.testing import expect_twilio_error

WS = defaults.DEFAULT_WORKSPACE_SID
WORKERS = f"/v1/Workspaces/{WS}/Workers"


@pytest.fixture
async def crew(emulator_http, emulator_clock) -> dict[str, dict]:
    """Four workers whose activity changes happen at known, distinct times (oldest status first: dan,
    alice, bob, carol)."""
    async with emulator_http.get(f"/v1/Workspaces/{WS}/Activities") as resp:
        acts = {a["friendly_name"]: a["sid"] for a in (await resp.json())["activities"]}
    specs = [
        ("Alice", "Available", '{"skills": ["support", "sales"], "languages": ["english"], "level": 3}'),
        ("Bob", "Available", '{"skills": ["sales"], "languages": ["spanish", "english"], "level": 1}'),
        ("Carol", "Unavailable", '{"skills": ["support"], "languages": ["french"], "level": 5}'),
        ("dan", "Offline", "{}"),
    ]
    workers = {}
    for name, activity, attributes in specs:
        emulator_clock.advance(10)
        async with emulator_http.post(
            WORKERS, data={"FriendlyName": name, "ActivitySid": acts[activity], "Attributes": attributes}
        ) as resp:
            assert resp.status == 201
            workers[name] = await resp.json()
    # dan's status changes last (so it is newest), but alice, bob, carol keep their creation times.
    emulator_clock.advance(10)
    async with emulator_http.post(
        f"{WORKERS}/{workers['dan']['sid']}", data={"ActivitySid": acts["Unavailable"]}
    ) as resp:
        workers["dan"] = await resp.json()
    workers["_activities"] = acts  # type: ignore[assignment]
    return workers


async def names(http, **query) -> list[str]:
    async with http.get(WORKERS, params=query) as resp:
        body = await resp.json()
        assert resp.status == 200, body
        return [w["friendly_name"] for w in body["workers"]]


async def test_no_filter_lists_all_in_creation_order(emulator_http, crew):
    assert await names(emulator_http) == ["Alice", "Bob", "Carol", "dan"]


async def test_activity_name(emulator_http, crew):
    assert await names(emulator_http, ActivityName="Available") == ["Alice", "Bob"]
    assert await names(emulator_http, ActivityName="Unavailable") == ["Carol", "dan"]
    assert await names(emulator_http, ActivityName="Offline") == []
    assert await names(emulator_http, ActivityName="available") == []  # activity names match exactly


async def test_activity_sid(emulator_http, crew):
    acts = crew["_activities"]
    assert await names(emulator_http, ActivitySid=acts["Available"]) == ["Alice", "Bob"]
    assert await names(emulator_http, ActivitySid="WA" + "f" * 32) == []


@pytest.mark.parametrize("value", ["true", "1", "yes", "TRUE", "Yes"])
async def test_available_true_1_yes(emulator_http, crew, value):
    assert await names(emulator_http, Available=value) == ["Alice", "Bob"]


@pytest.mark.parametrize("value", ["false", "0", "no", "whatever"])
async def test_available_anything_else_means_unavailable(emulator_http, crew, value):
    assert await names(emulator_http, Available=value) == ["Carol", "dan"]


async def test_friendly_name_ignores_case(emulator_http, crew):
    assert await names(emulator_http, FriendlyName="alice") == ["Alice"]
    assert await names(emulator_http, FriendlyName="DAN") == ["dan"]
    assert await names(emulator_http, FriendlyName="Alic") == []


@pytest.mark.parametrize(
    "expression, expected",
    [
        ('skills HAS "support"', ["Alice", "Carol"]),
        ("languages HAS 'english' AND level > 2", ["Alice"]),
        ('"spanish" IN languages OR level >= 5', ["Bob", "Carol"]),
        ("level < 2", ["Bob"]),
        # worker fields merged into the attributes
        ("activity_name == 'Available'", ["Alice", "Bob"]),
        ("friendly_name IN ['dan', 'Carol']", ["Carol", "dan"]),
        ("activity_name CONTAINS 'vail'", ["Alice", "Bob", "Carol", "dan"]),
        ("1 == 1", ["Alice", "Bob", "Carol", "dan"]),
        ("missing_key == 'x'", []),
    ],
)
async def test_target_workers_expression(emulator_http, crew, expression, expected):
    assert await names(emulator_http, TargetWorkersExpression=expression) == expected


async def test_expression_can_name_the_worker_sid(emulator_http, crew):
    bob = crew["Bob"]["sid"]
    assert await names(emulator_http, TargetWorkersExpression=f"sid == '{bob}'") == ["Bob"]


@pytest.mark.parametrize(
    "expression, position",
    [
        ("skills HAS", "position 10"),
        ("level >> 2", "position"),
        ("(level > 2", "position 0"),
        ("level = 2", "position 6"),
    ],
)
async def test_expression_syntax_error_is_400_with_the_position(emulator_http, crew, expression, position):
    async with emulator_http.get(WORKERS, params={"TargetWorkersExpression": expression}) as resp:
        body = await expect_twilio_error(resp, 400, 20001)
    assert "TargetWorkersExpression" in body["message"] and position in body["message"]


async def test_task_queue_sid_of_a_queue_that_does_not_exist_is_404(emulator_http, crew):
    # A well-formed TaskQueueSid that names no queue of the workspace: TaskRouter answers a reference to a
    # missing resource with 404 / 20404.
    queue = "WQ" + "a" * 32
    async with emulator_http.get(WORKERS, params={"TaskQueueSid": queue}) as resp:
        body = await expect_twilio_error(resp, 404, 20404)
    assert queue in body["message"]


async def test_malformed_task_queue_sid_is_400(emulator_http, crew):
    async with emulator_http.get(WORKERS, params={"TaskQueueSid": "WQ123"}) as resp:
        await expect_twilio_error(resp, 400, 20001)


async def test_task_queue_name_of_a_queue_that_does_not_exist_selects_nobody(emulator_http, crew):
    # A name filter that matches no queue matches no workers: an empty page, not an error.
    assert await names(emulator_http, TaskQueueName="Support") == []


@pytest.mark.parametrize(
    "query",
    [
        {"ActivitySid": "foo"},
        {"ActivitySid": "WK" + "0" * 32},
        {"Ordering": "DateCreated:asc"},
        {"Ordering": "DateStatusChanged"},
        {"Ordering": "DateStatusChanged:up"},
    ],
)
async def test_bad_filter_values_are_400(emulator_http, crew, query):
    async with emulator_http.get(WORKERS, params=query) as resp:
        await expect_twilio_error(resp, 400, 20001)


async def test_ordering_by_date_status_changed(emulator_http, crew):
    assert await names(emulator_http, Ordering="DateStatusChanged:asc") == ["Alice", "Bob", "Carol", "dan"]
    assert await names(emulator_http, Ordering="DateStatusChanged:desc") == ["dan", "Carol", "Bob", "Alice"]
    assert await names(emulator_http, Ordering="datestatuschanged:DESC") == ["dan", "Carol", "Bob", "Alice"]


async def test_ordering_follows_status_changes(emulator_http, crew, emulator_clock):
    emulator_clock.advance(10)
    acts = crew["_activities"]
    async with emulator_http.post(f"{WORKERS}/{crew['Alice']['sid']}", data={"ActivitySid": acts["Offline"]}) as resp:
        assert resp.status == 200
    assert await names(emulator_http, Ordering="DateStatusChanged:asc") == ["Bob", "Carol", "dan", "Alice"]


async def test_filters_combine(emulator_http, crew):
    assert await names(emulator_http, Available="true", TargetWorkersExpression="level > 2") == ["Alice"]
    assert await names(
        emulator_http, ActivityName="Unavailable", FriendlyName="carol", Ordering="DateStatusChanged:desc"
    ) == ["Carol"]
    assert await names(emulator_http, Available="false", TargetWorkersExpression="skills HAS 'sales'") == []


async def test_filters_are_echoed_in_meta_urls(emulator_http, emulator, crew):
    async with emulator_http.get(WORKERS, params={"Available": "true", "PageSize": 1}) as resp:
        meta = (await resp.json())["meta"]
    assert meta["url"] == f"{emulator.base_url}{WORKERS}?Available=true&PageSize=1&Page=0"
    assert meta["next_page_url"].startswith(f"{emulator.base_url}{WORKERS}?Available=true&PageSize=1&Page=1&PageToken=")
    async with emulator_http.get(meta["next_page_url"]) as resp:
        assert [w["friendly_name"] for w in (await resp.json())["workers"]] == ["Bob"]
