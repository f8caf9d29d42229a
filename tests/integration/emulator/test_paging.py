"""PageSize / Page / PageToken paging on every v1 list, meta URLs, and bad paging input."""

from __future__ import annotations

import aiohttp
import pytest

from taskrouter_emulator import defaults
from taskrouter_emulator.config import EmulatorConfig
from taskrouter_emulator.server import run_emulator
from taskrouter_emulator.testing import account_auth_header, expect_twilio_error

WS = defaults.DEFAULT_WORKSPACE_SID
WORKERS = f"/v1/Workspaces/{WS}/Workers"
LISTS = {
    "workspaces": "/v1/Workspaces",
    "activities": f"/v1/Workspaces/{WS}/Activities",
    "workers": WORKERS,
    "events": f"/v1/Workspaces/{WS}/Events",
}


async def make_workers(http, count: int, prefix: str = "w") -> list[str]:
    sids = []
    for n in range(count):
        async with http.post(WORKERS, data={"FriendlyName": f"{prefix}{n}"}) as resp:
            assert resp.status == 201
            sids.append((await resp.json())["sid"])
    return sids


async def walk(http, path: str, key: str, **query) -> tuple[list[str], list[dict]]:
    """Follows next_page_url from the first page; returns the sids seen and each page's meta."""
    async with http.get(path, params=query) as resp:
        body = await resp.json()
        assert resp.status == 200, body
    sids, metas = [], []
    while True:
        sids += [record["sid"] for record in body[key]]
        metas.append(body["meta"])
        if body["meta"]["next_page_url"] is None:
            return sids, metas
        async with http.get(body["meta"]["next_page_url"]) as resp:
            body = await resp.json()
            assert resp.status == 200, body


async def test_default_page_size_is_50(emulator_http):
    sids = await make_workers(emulator_http, 51)
    async with emulator_http.get(WORKERS) as resp:
        body = await resp.json()
    assert [w["sid"] for w in body["workers"]] == sids[:50]
    assert body["meta"]["page_size"] == 50 and body["meta"]["next_page_url"] is not None


async def test_walking_workers_visits_each_exactly_once_in_creation_order(emulator_http, emulator):
    sids = await make_workers(emulator_http, 7)
    seen, metas = await walk(emulator_http, WORKERS, "workers", PageSize=3)
    assert seen == sids
    assert [m["page"] for m in metas] == [0, 1, 2]
    base = f"{emulator.base_url}{WORKERS}"
    for meta in metas:
        assert meta["key"] == "workers" and meta["page_size"] == 3
        assert meta["first_page_url"] == f"{base}?PageSize=3&Page=0"
        assert meta["url"].startswith(f"{base}?PageSize=3&Page={meta['page']}")
    assert metas[0]["previous_page_url"] is None
    assert metas[1]["previous_page_url"].startswith(f"{base}?PageSize=3&Page=0&PageToken=")
    assert metas[-1]["next_page_url"] is None


async def test_previous_page_url_goes_back(emulator_http):
    sids = await make_workers(emulator_http, 5)
    _, metas = await walk(emulator_http, WORKERS, "workers", PageSize=2)
    async with emulator_http.get(metas[2]["previous_page_url"]) as resp:
        back = await resp.json()
    assert [w["sid"] for w in back["workers"]] == sids[2:4]
    assert back["meta"]["page"] == 1
    async with emulator_http.get(back["meta"]["previous_page_url"]) as resp:
        first = await resp.json()
    assert [w["sid"] for w in first["workers"]] == sids[:2]
    assert first["meta"]["previous_page_url"] is None


async def test_pages_stay_stable_while_workers_come_and_go(emulator_http):
    sids = await make_workers(emulator_http, 6)
    async with emulator_http.get(WORKERS, params={"PageSize": 3}) as resp:
        first = await resp.json()
    # Between pages: delete one already seen and one not yet seen, and add a new one.
    for sid in (sids[0], sids[4]):
        async with emulator_http.delete(f"{WORKERS}/{sid}") as resp:
            assert resp.status == 204
    [late] = await make_workers(emulator_http, 1, prefix="late")
    async with emulator_http.get(first["meta"]["next_page_url"]) as resp:
        second = await resp.json()
    assert [w["sid"] for w in second["workers"]] == [sids[3], sids[5], late]


@pytest.mark.parametrize("key, path", list(LISTS.items()))
async def test_every_list_pages_through_everything(emulator_http, key, path):
    await make_workers(emulator_http, 4)
    for n in range(3):
        async with emulator_http.post("/v1/Workspaces", data={"FriendlyName": f"ws{n}"}) as resp:
            assert resp.status == 201
    async with emulator_http.get(path, params={"PageSize": 1000}) as resp:
        everything = [record["sid"] for record in (await resp.json())[key]]
    assert len(everything) >= 3
    seen, metas = await walk(emulator_http, path, key, PageSize=2)
    assert seen == everything
    assert len(metas) == (len(everything) + 1) // 2


async def test_filters_are_kept_across_pages(emulator_http):
    await make_workers(emulator_http, 3, prefix="a")
    async with emulator_http.get(f"/v1/Workspaces/{WS}/Activities", params={"FriendlyName": "Available"}) as resp:
        available = (await resp.json())["activities"][0]["sid"]
    chosen = []
    for name in ("b0", "b1", "b2"):
        async with emulator_http.post(WORKERS, data={"FriendlyName": name, "ActivitySid": available}) as resp:
            chosen.append((await resp.json())["sid"])
    seen, metas = await walk(emulator_http, WORKERS, "workers", PageSize=2, Available="true")
    assert seen == chosen
    assert all("Available=true" in m["url"] for m in metas)


async def test_page_parameter_is_client_state_only(emulator_http):
    sids = await make_workers(emulator_http, 3)
    async with emulator_http.get(WORKERS, params={"PageSize": 2, "Page": 4}) as resp:
        body = await resp.json()
    assert [w["sid"] for w in body["workers"]] == sids[:2]  # the window does not move
    assert body["meta"]["page"] == 4
    assert "Page=5&PageToken=" in body["meta"]["next_page_url"]


async def test_page_size_1000_is_the_maximum(emulator_http):
    async with emulator_http.get(WORKERS, params={"PageSize": 1000}) as resp:
        assert (await resp.json())["meta"]["page_size"] == 1000


@pytest.mark.parametrize("path", [*LISTS.values()])
@pytest.mark.parametrize(
    "query",
    [{"PageSize": "0"}, {"PageSize": "1001"}, {"PageSize": "ten"}, {"PageSize": "-1"}, {"Page": "-1"}, {"Page": "x"}],
)
async def test_bad_page_size_or_page_is_400(emulator_http, path, query):
    async with emulator_http.get(path, params=query) as resp:
        body = await expect_twilio_error(resp, 400, 20001)
    assert next(iter(query)) in body["message"]


@pytest.mark.parametrize("token", ["garbage", "PTnot-base64!!", "PT" + "e30", "PTAAAA", "PT"])
async def test_bad_page_token_is_400(emulator_http, token):
    async with emulator_http.get(WORKERS, params={"PageToken": token}) as resp:
        body = await expect_twilio_error(resp, 400, 20001)
    assert "PageToken" in body["message"]


async def test_a_token_from_another_list_or_ordering_is_400(emulator_http):
    await make_workers(emulator_http, 3)
    async with emulator_http.get(WORKERS, params={"PageSize": 1}) as resp:
        next_url = (await resp.json())["meta"]["next_page_url"]
    token = next_url.split("PageToken=")[1]
    for path, extra in (
        (f"/v1/Workspaces/{WS}/Activities", {}),
        (f"/v1/Workspaces/{WS}/Events", {}),
        (WORKERS, {"Ordering": "DateStatusChanged:desc"}),
    ):
        async with emulator_http.get(path, params={"PageToken": token, **extra}) as resp:
            await expect_twilio_error(resp, 400, 20001)


async def test_a_public_base_url_is_used_in_every_url():
    public = "https://taskrouter.example.test"
    async with run_emulator(EmulatorConfig(port=0, public_base_url=public)) as emulator:
        assert emulator.base_url == public
        # The public URL is a name for clients behind a proxy; the test reaches the socket directly.
        headers = account_auth_header(emulator.config)
        async with aiohttp.ClientSession(base_url=emulator.local_url, headers=headers) as http:
            async with http.get(WORKERS, params={"PageSize": 1}) as resp:
                meta = (await resp.json())["meta"]
            async with http.get(f"/v1/Workspaces/{WS}") as resp:
                ws = await resp.json()
    assert meta["url"].startswith(f"{public}{WORKERS}?")
    assert meta["first_page_url"].startswith(public)
    assert ws["url"] == f"{public}/v1/Workspaces/{WS}"
    assert all(link.startswith(public) for link in ws["links"].values())
