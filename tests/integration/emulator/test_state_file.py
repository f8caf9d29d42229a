"""The optional SQLite state file: state survives a restart exactly; without it nothing does."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiohttp
import pytest

from taskrouter_emulator import defaults
from taskrouter_emulator.config import EmulatorConfig
from taskrouter_emulator.persistence import StateFileError
from taskrouter_emulator.server import run_emulator, start_emulator
from taskrouter_emulator.testing import account_auth_header, expect_twilio_error

WS = defaults.DEFAULT_WORKSPACE_SID
PUBLIC = "http://emulator.test"  # fixed, so URLs in bodies compare equal across restarts on new ports


def config_for(path: Path, **overrides) -> EmulatorConfig:
    return EmulatorConfig(port=0, state_file=str(path), public_base_url=PUBLIC, **overrides)


def session(emulator) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(base_url=emulator.local_url, headers=account_auth_header(emulator.config))


async def snapshot(http, workspace_sids: list[str], call_sid: str | None = None) -> dict:
    """Everything the API can show, including single-worker bodies and ETags."""
    state: dict = {}
    async with http.get("/v1/Workspaces") as resp:
        state["workspaces"] = (await resp.json())["workspaces"]
    for ws in workspace_sids:
        for key in ("Activities", "Workers"):
            async with http.get(f"/v1/Workspaces/{ws}/{key}", params={"PageSize": 1000}) as resp:
                state[(ws, key)] = (await resp.json())[key.lower()]
        async with http.get(f"/v1/Workspaces/{ws}/Events", params={"PageSize": 1000, "Minutes": 60}) as resp:
            state[(ws, "Events")] = (await resp.json())["events"]
        for worker in state[(ws, "Workers")]:
            async with http.get(f"/v1/Workspaces/{ws}/Workers/{worker['sid']}") as resp:
                state[worker["sid"]] = (await resp.json(), resp.headers["ETag"])
    if call_sid:
        path = f"/2010-04-01/Accounts/{defaults.DEFAULT_ACCOUNT_SID}/Calls/{call_sid}/Events.json"
        async with http.get(path) as resp:
            state["call"] = await resp.json()
    return state


async def populate(http) -> tuple[str, str, dict[str, str]]:
    async with http.post(
        "/v1/Workspaces", data={"FriendlyName": "Second", "EventCallbackUrl": "http://127.0.0.1:9/x"}
    ) as r:
        second = (await r.json())["sid"]
    async with http.post(f"/v1/Workspaces/{WS}/Activities", data={"FriendlyName": "Lunch", "Available": "false"}) as r:
        lunch = (await r.json())["sid"]
    async with http.post(f"/v1/Workspaces/{WS}/Activities", data={"FriendlyName": "Temp"}) as r:
        temp = (await r.json())["sid"]
    async with http.delete(f"/v1/Workspaces/{WS}/Activities/{temp}") as r:
        assert r.status == 204
    workers = {}
    for name in ("Ann", "Ben", "Cid", "Dee"):
        async with http.post(
            f"/v1/Workspaces/{WS}/Workers", data={"FriendlyName": name, "Attributes": '{"n": "%s"}' % name}
        ) as r:
            workers[name] = (await r.json())["sid"]
    async with http.post(
        f"/v1/Workspaces/{WS}/Workers/{workers['Ben']}", data={"ActivitySid": lunch, "Attributes": '{"b": 1}'}
    ) as r:
        assert r.headers["ETag"] == '"1"'
    async with http.post(f"/v1/Workspaces/{WS}/Workers/{workers['Cid']}", data={"FriendlyName": "Cyd"}) as r:
        assert r.status == 200
    async with http.delete(f"/v1/Workspaces/{WS}/Workers/{workers['Dee']}") as r:
        assert r.status == 204
    async with http.post(f"/v1/Workspaces/{second}/Workers", data={"FriendlyName": "Ann"}) as r:
        assert r.status == 201
    event = {
        "request": {"url": "https://example.com/voice", "parameters": {"CallSid": "x"}},
        "response": {"response_code": 200},
    }
    async with http.post("/admin/calls", json={"events": [event, event]}) as r:
        call = (await r.json())["sid"]
    return second, call, workers


async def test_state_survives_a_restart_exactly(tmp_path):
    path = tmp_path / "state.sqlite3"
    async with run_emulator(config_for(path)) as first:
        async with session(first) as http:
            second, call, workers = await populate(http)
            before = await snapshot(http, [WS, second], call)
    async with run_emulator(config_for(path)) as again:
        async with session(again) as http:
            after = await snapshot(http, [WS, second], call)
            # The restored state keeps enforcing its rules: names, ETags, deleted records.
            async with http.post(f"/v1/Workspaces/{WS}/Workers", data={"FriendlyName": "CYD"}) as resp:
                await expect_twilio_error(resp, 400, 20001)
            async with http.post(f"/v1/Workspaces/{WS}/Workers", data={"FriendlyName": "Cid"}) as resp:
                assert resp.status == 201  # the old name was freed by the rename
            async with http.post(
                f"/v1/Workspaces/{WS}/Workers/{workers['Ben']}", data={"Attributes": "{}"}, headers={"If-Match": '"1"'}
            ) as resp:
                assert resp.headers["ETag"] == '"2"'
            async with http.get(f"/v1/Workspaces/{WS}/Workers/{workers['Dee']}") as resp:
                await expect_twilio_error(resp, 404, 20404)
    assert after == before
    assert [w["friendly_name"] for w in after[(WS, "Workers")]] == ["Ann", "Ben", "Cyd"]
    assert [a["friendly_name"] for a in after[(WS, "Activities")]] == ["Offline", "Unavailable", "Available", "Lunch"]
    assert len(after["call"]["events"]) == 2
    assert len(after[(WS, "Events")]) > 10 and len(after[(second, "Events")]) >= 5


async def test_a_deleted_workspace_stays_deleted_and_its_rows_are_gone(tmp_path):
    path = tmp_path / "state.sqlite3"
    async with run_emulator(config_for(path)) as first:
        async with session(first) as http:
            async with http.post("/v1/Workspaces", data={"FriendlyName": "Brief"}) as resp:
                brief = (await resp.json())["sid"]
            async with http.post(f"/v1/Workspaces/{brief}/Workers", data={"FriendlyName": "w"}) as resp:
                assert resp.status == 201
            async with http.delete(f"/v1/Workspaces/{brief}") as resp:
                assert resp.status == 204
    with sqlite3.connect(path) as db:
        assert db.execute(
            "SELECT COUNT(*) FROM records WHERE workspace_sid = ? OR sid = ?", (brief, brief)
        ).fetchone() == (0,)
    async with run_emulator(config_for(path)) as again:
        async with session(again) as http:
            async with http.get(f"/v1/Workspaces/{brief}") as resp:
                await expect_twilio_error(resp, 404, 20404)


async def test_the_default_workspace_is_recreated_if_it_was_deleted(tmp_path):
    path = tmp_path / "state.sqlite3"
    async with run_emulator(config_for(path)) as first:
        async with session(first) as http:
            async with http.delete(f"/v1/Workspaces/{WS}") as resp:
                assert resp.status == 204
    async with run_emulator(config_for(path)) as again:
        async with session(again) as http:
            async with http.get(f"/v1/Workspaces/{WS}") as resp:
                assert (await resp.json())["friendly_name"] == defaults.DEFAULT_WORKSPACE_NAME


async def test_without_a_state_file_a_restart_starts_fresh(tmp_path):
    config = EmulatorConfig(port=0, public_base_url=PUBLIC)
    async with run_emulator(config) as first:
        async with session(first) as http:
            async with http.post(f"/v1/Workspaces/{WS}/Workers", data={"FriendlyName": "ephemeral"}) as resp:
                assert resp.status == 201
    async with run_emulator(config) as again:
        async with session(again) as http:
            async with http.get(f"/v1/Workspaces/{WS}/Workers") as resp:
                assert (await resp.json())["workers"] == []
    assert list(tmp_path.iterdir()) == []


async def test_a_refused_request_writes_nothing(tmp_path):
    path = tmp_path / "state.sqlite3"
    async with run_emulator(config_for(path)) as emulator:
        with sqlite3.connect(path) as db:
            rows_before = db.execute("SELECT kind, sid, data FROM records ORDER BY seq").fetchall()
        async with session(emulator) as http:
            async with http.post(
                f"/v1/Workspaces/{WS}/Workers", data={"FriendlyName": "x", "Attributes": "[]"}
            ) as resp:
                await expect_twilio_error(resp, 400, 20001)
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT kind, sid, data FROM records ORDER BY seq").fetchall() == rows_before


async def test_a_state_file_of_another_account_is_refused(tmp_path):
    path = tmp_path / "state.sqlite3"
    async with run_emulator(config_for(path)):
        pass
    with pytest.raises(StateFileError, match="belongs to account"):
        await start_emulator(config_for(path, account_sid="AC" + "b" * 32))


async def test_a_file_that_is_not_a_state_file_is_refused(tmp_path):
    path = tmp_path / "not-sqlite.sqlite3"
    path.write_bytes(b"this is not a database, just some text " * 100)
    with pytest.raises(StateFileError, match="cannot use state file"):
        await start_emulator(config_for(path))
