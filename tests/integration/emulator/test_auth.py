"""HTTP Basic auth: account SID + auth token or API key SID + secret; anything else is 401 / 20003
with Twilio's WWW-Authenticate challenge, and changes nothing."""

from __future__ import annotations

import base64

import aiohttp
import pytest

from taskrouter_emulator import defaults
from taskrouter_emulator.testing import basic_auth_header, expect_twilio_error

WS = defaults.DEFAULT_WORKSPACE_SID
WORKERS = f"/v1/Workspaces/{WS}/Workers"


async def status_with(emulator, headers: dict[str, str], method: str = "GET", path: str = WORKERS, **kwargs):
    async with aiohttp.ClientSession(base_url=emulator.base_url, headers=headers) as http:
        async with http.request(method, path, **kwargs) as resp:
            return resp.status, await resp.json(), resp.headers


async def test_account_sid_and_auth_token_are_accepted(emulator):
    status, _, _ = await status_with(
        emulator, basic_auth_header(emulator.config.account_sid, emulator.config.auth_token)
    )
    assert status == 200


async def test_api_key_sid_and_secret_are_accepted(emulator):
    config = emulator.config
    status, body, _ = await status_with(
        emulator, basic_auth_header(config.api_key_sid, config.api_key_secret), "POST", data={"FriendlyName": "k"}
    )
    assert status == 201 and body["friendly_name"] == "k"


async def test_scheme_is_case_insensitive(emulator):
    config = emulator.config
    token = base64.b64encode(f"{config.account_sid}:{config.auth_token}".encode()).decode()
    status, _, _ = await status_with(emulator, {"Authorization": f"basic   {token}"})
    assert status == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic_auth_header(defaults.DEFAULT_ACCOUNT_SID, "wrong-token"),
        basic_auth_header("AC" + "9" * 32, defaults.DEFAULT_AUTH_TOKEN),
        basic_auth_header(defaults.DEFAULT_API_KEY_SID, defaults.DEFAULT_AUTH_TOKEN),  # key SID with the token
        basic_auth_header(defaults.DEFAULT_ACCOUNT_SID, defaults.DEFAULT_API_KEY_SECRET),  # account with the secret
        basic_auth_header(defaults.DEFAULT_ACCOUNT_SID, ""),
        basic_auth_header(defaults.DEFAULT_ACCOUNT_SID + "é", defaults.DEFAULT_AUTH_TOKEN),
        {"Authorization": "Bearer " + defaults.DEFAULT_AUTH_TOKEN},
        {"Authorization": "Basic !!!not-base64!!!"},
        {"Authorization": "Basic"},
    ],
)
async def test_missing_or_wrong_credentials_are_401_with_a_challenge(emulator, headers):
    async with aiohttp.ClientSession(base_url=emulator.base_url, headers=headers) as http:
        async with http.get(WORKERS) as resp:
            await expect_twilio_error(resp, 401, 20003)
            assert resp.headers["WWW-Authenticate"] == 'Basic realm="Twilio API"'


async def test_rejected_requests_change_nothing(emulator, emulator_http):
    headers = basic_auth_header(emulator.config.account_sid, "wrong")
    async with aiohttp.ClientSession(base_url=emulator.base_url, headers=headers) as http:
        async with http.post(WORKERS, data={"FriendlyName": "intruder"}) as resp:
            await expect_twilio_error(resp, 401, 20003)
        async with http.delete(f"/v1/Workspaces/{WS}") as resp:
            await expect_twilio_error(resp, 401, 20003)
    async with emulator_http.get(WORKERS) as resp:
        assert (await resp.json())["workers"] == []
    async with emulator_http.get(f"/v1/Workspaces/{WS}") as resp:
        assert resp.status == 200


@pytest.mark.parametrize(
    "path",
    [
        "/v1/Nowhere",
        "/v1/Workspaces/abc",
        "/admin/health",
        "/admin/faults",
        "/2010-04-01/Accounts/x/Calls/y/Events.json",
    ],
)
async def test_every_path_needs_credentials(emulator, path):
    async with aiohttp.ClientSession(base_url=emulator.base_url) as http:
        async with http.get(path) as resp:
            await expect_twilio_error(resp, 401, 20003)


async def test_admin_health_answers_with_credentials(emulator_http):
    async with emulator_http.get("/admin/health") as resp:
        body = await resp.json()
    assert body["status"] == "ok" and body["counts"]["workspaces"] == 1


async def test_custom_credentials_replace_the_defaults():
    from taskrouter_emulator.config import EmulatorConfig
    from taskrouter_emulator.server import run_emulator

    config = EmulatorConfig(
        port=0, account_sid="AC" + "c" * 32, auth_token="tok", api_key_sid="SK" + "d" * 32, api_key_secret="sec"
    )
    async with run_emulator(config) as emulator:
        for headers, expected in (
            (basic_auth_header("AC" + "c" * 32, "tok"), 200),
            (basic_auth_header("SK" + "d" * 32, "sec"), 200),
            (basic_auth_header(defaults.DEFAULT_ACCOUNT_SID, defaults.DEFAULT_AUTH_TOKEN), 401),
        ):
            status, body, _ = await status_with(emulator, headers, path="/v1/Workspaces")
            assert status == expected, body
            if status == 200:
                assert body["workspaces"][0]["account_sid"] == "AC" + "c" * 32
