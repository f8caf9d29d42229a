"""Which hosts the emulator POSTs callbacks to: any (standalone default), or loopback only (the gateway's
embedded emulator unless --emulator-allow-remote-callbacks), refused with a 400 naming the parameter."""

from __future__ import annotations

import aiohttp
import pytest
from structlog.testing import capture_logs

from taskrouter_emulator import defaults
from taskrouter_emulator.config import EmulatorConfig
from taskrouter_emulator.errors import BAD_PARAMETER
from taskrouter_emulator.server import run_emulator
from taskrouter_emulator.testing import account_auth_header, expect_twilio_error

WS = defaults.DEFAULT_WORKSPACE_SID
CONFIGURATION = '{"task_routing": {"filters": [], "default_filter": {"queue": "%s"}}}'
LOCAL = ("http://127.0.0.1:9/cb", "http://localhost:9/cb", "http://[::1]:9/cb", "https://127.8.9.10/cb",
         "http://LOCALHOST/cb")
REMOTE = ("http://203.0.113.7/cb", "https://callbacks.example/cb", "http://localhost.example/cb",
          "http://127.0.0.1.nip.io/cb", "http://10.0.0.1:8080/cb", "http://[2001:db8::1]/cb", "http://0x7f.1/cb")


def session(emulator) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(base_url=emulator.local_url, headers=account_auth_header(emulator.config))


@pytest.fixture
async def local_only():
    async with run_emulator(EmulatorConfig(port=0, allow_remote_callbacks=False)) as emulator:
        async with session(emulator) as http:
            yield http


async def queue_sid(http) -> str:
    async with http.post(f"/v1/Workspaces/{WS}/TaskQueues", data={"FriendlyName": "Q"}) as resp:
        assert resp.status == 201
        return (await resp.json())["sid"]


@pytest.mark.parametrize("url", LOCAL)
async def test_loopback_callback_urls_are_accepted(local_only, url):
    async with local_only.post("/v1/Workspaces", data={"FriendlyName": "Local", "EventCallbackUrl": url}) as resp:
        assert resp.status == 201, await resp.text()
        assert (await resp.json())["event_callback_url"] == url


@pytest.mark.parametrize("url", REMOTE)
async def test_other_hosts_are_refused_when_set_with_the_parameter_named(local_only, url):
    http = local_only
    async with http.post("/v1/Workspaces", data={"FriendlyName": "Far", "EventCallbackUrl": url}) as resp:
        body = await expect_twilio_error(resp, 400, BAD_PARAMETER)
    assert body["message"].startswith("EventCallbackUrl must name a loopback host")
    assert "--emulator-allow-remote-callbacks" in body["message"]
    async with http.post(f"/v1/Workspaces/{WS}", data={"EventCallbackUrl": url}) as resp:
        await expect_twilio_error(resp, 400, BAD_PARAMETER)
    async with http.get("/v1/Workspaces", params={"FriendlyName": "Far"}) as resp:
        assert (await resp.json())["workspaces"] == []  # nothing was created
    configuration = CONFIGURATION % await queue_sid(http)
    for name in ("AssignmentCallbackUrl", "FallbackAssignmentCallbackUrl"):
        form = {"FriendlyName": "W", "Configuration": configuration, name: url}
        async with http.post(f"/v1/Workspaces/{WS}/Workflows", data=form) as resp:
            body = await expect_twilio_error(resp, 400, BAD_PARAMETER)
        assert body["message"].startswith(f"{name} must name a loopback host")
    async with http.post(f"/v1/Workspaces/{WS}/Workflows", data={"FriendlyName": "W", "Configuration": configuration}) as resp:
        workflow = (await resp.json())["sid"]
    async with http.post(f"/v1/Workspaces/{WS}/Workflows/{workflow}", data={"AssignmentCallbackUrl": url}) as resp:
        await expect_twilio_error(resp, 400, BAD_PARAMETER)


async def test_named_hosts_are_allowed_besides_loopback():
    config = EmulatorConfig(port=0, allow_remote_callbacks=False, callback_hosts=frozenset({"gateway.internal"}))
    async with run_emulator(config) as emulator, session(emulator) as http:
        form = {"FriendlyName": "Own", "EventCallbackUrl": "https://gateway.internal/hook"}
        async with http.post("/v1/Workspaces", data=form) as resp:
            assert resp.status == 201
        async with http.post("/v1/Workspaces", data={**form, "EventCallbackUrl": "https://other.internal/h"}) as resp:
            await expect_twilio_error(resp, 400, BAD_PARAMETER)


async def test_the_standalone_emulator_calls_any_host_by_default():
    assert EmulatorConfig().allow_remote_callbacks is True
    async with run_emulator(EmulatorConfig(port=0)) as emulator, session(emulator) as http:
        async with http.post("/v1/Workspaces", data={"FriendlyName": "Far", "EventCallbackUrl": REMOTE[0]}) as resp:
            assert resp.status == 201


async def test_a_remote_url_kept_in_a_state_file_is_not_called_by_a_local_only_emulator(tmp_path):
    state = str(tmp_path / "emulator.sqlite3")
    async with run_emulator(EmulatorConfig(port=0, state_file=state)) as emulator, session(emulator) as http:
        async with http.post(f"/v1/Workspaces/{WS}", data={"EventCallbackUrl": "http://192.0.2.1:9/cb"}) as resp:
            assert resp.status == 200
    config = EmulatorConfig(port=0, state_file=state, allow_remote_callbacks=False)
    async with run_emulator(config) as emulator, session(emulator) as http:
        with capture_logs() as logs:
            async with http.post(f"/v1/Workspaces/{WS}/Workers", data={"FriendlyName": "W1"}) as resp:
                assert resp.status == 201
        await emulator.context.dispatcher.wait_idle()
        assert emulator.context.dispatcher.stats.submitted == 0
    refused = [entry for entry in logs if entry["event"] == "event_callback_refused_remote_host"]
    assert refused and refused[0]["url"] == "http://192.0.2.1:9/cb"
