"""The webhook over real HTTP, signed by Twilio's own RequestValidator (independent of the receiver)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest
from callback_fixtures import live_callback
from twilio.request_validator import RequestValidator

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "callbacks"


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


def _callback(workspace_sid: str, **extra: str) -> dict[str, str]:
    return live_callback(WorkspaceSid=workspace_sid, **extra)


def _sign(token: str, url: str, params: dict[str, str]) -> str:
    return RequestValidator(token).compute_signature(url, params)


async def _post(http, url, params, signature, **kw):
    headers = {"X-Twilio-Signature": signature} if signature is not None else {}
    async with http.post(url, data=params, headers=headers, **kw) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), await resp.text()


async def test_signed_callback_is_stored_once_and_answered_204(gateway, http, emulator):
    token, url = emulator.config.auth_token, gateway.webhook_url
    params = _callback(emulator.config.default_workspace_sid)
    for _ in range(3):
        status, content_type, body = await _post(http, url, params, _sign(token, url, params))
        assert (status, body) == (204, "") and content_type.startswith("application/json")
    stored = await gateway.event_log.get(params["Sid"])
    assert stored is not None and stored.event_type == "worker.created"
    assert gateway.webhook.accepted == 1 and gateway.webhook.duplicates == 2
    assert await gateway.event_log.last_seq() == stored.seq


async def test_bad_signatures_are_403_and_store_nothing(gateway, http, emulator):
    token, url = emulator.config.auth_token, gateway.webhook_url
    params = _callback(emulator.config.default_workspace_sid)
    good = _sign(token, url, params)
    tampered = dict(params, WorkerName="Mallory")
    cases = [
        (params, None, "missing"),
        (params, "", "missing"),
        (params, _sign("not-the-token", url, params), "does not match"),
        (tampered, good, "does not match"),
        (dict(params, Extra="1"), good, "does not match"),
    ]
    for body, signature, reason in cases:
        status, _, text = await _post(http, url, body, signature)
        assert status == 403 and reason in json.loads(text)["error"], text
    assert await gateway.event_log.last_seq() == 0


async def test_json_body_variant(gateway, http, emulator):
    token = emulator.config.auth_token
    params = _callback(emulator.config.default_workspace_sid)
    body = json.dumps(params).encode()
    url = f"{gateway.webhook_url}?bodySHA256={hashlib.sha256(body).hexdigest()}"
    signature = _sign(token, url, {})
    async with http.post(url, data=body, headers={"X-Twilio-Signature": signature, "Content-Type": "application/json"}) as r:
        assert r.status == 204
    assert await gateway.event_log.get(params["Sid"]) is not None
    wrong_hash = url.replace(url[-8:], "00000000")
    async with http.post(wrong_hash, data=body, headers={"X-Twilio-Signature": _sign(token, wrong_hash, {}),
                                                         "Content-Type": "application/json"}) as r:
        assert r.status == 403
    other = json.dumps(dict(params, Sid="EV" + "0" * 32)).encode()
    async with http.post(url, data=other, headers={"X-Twilio-Signature": signature, "Content-Type": "application/json"}) as r:
        assert r.status == 403  # the body no longer matches the signed hash


@pytest.mark.parametrize(
    "mutate,reason",
    [
        (lambda p: p.pop("EventType"), "EventType"),
        (lambda p: p.update(Sid="not-a-sid"), "Sid"),
        (lambda p: p.update(WorkspaceSid="WK" + "0" * 32), "WorkspaceSid"),
    ],
)
async def test_malformed_callbacks_are_400_with_a_reason(gateway, http, emulator, mutate, reason):
    token, url = emulator.config.auth_token, gateway.webhook_url
    params = _callback(emulator.config.default_workspace_sid)
    mutate(params)
    status, _, text = await _post(http, url, params, _sign(token, url, params))
    assert status == 400 and reason in json.loads(text)["error"], text
    assert await gateway.event_log.last_seq() == 0


async def test_wrong_content_type_and_oversized_bodies(gateway, http, emulator):
    url = gateway.webhook_url
    async with http.post(url, data=b"<xml/>", headers={"X-Twilio-Signature": "x", "Content-Type": "text/xml"}) as r:
        assert r.status == 400 and "Content-Type" in (await r.json())["error"]
    huge = {"EventType": "worker.created", "Blob": "x" * (gateway.settings.webhook_max_body + 1)}
    async with http.post(url, data=urlencode(huge), headers={"X-Twilio-Signature": "x",
                                                             "Content-Type": "application/x-www-form-urlencoded"}) as r:
        assert r.status == 413
    async with http.get(url) as r:
        assert r.status == 405
    assert await gateway.event_log.last_seq() == 0


async def test_unknown_event_types_pass_through(gateway, http, emulator):
    token, url = emulator.config.auth_token, gateway.webhook_url
    params = _callback(emulator.config.default_workspace_sid, EventType="worker.future-thing", FutureField="42")
    status, _, _ = await _post(http, url, params, _sign(token, url, params))
    assert status == 204
    stored = await gateway.event_log.get(params["Sid"])
    assert stored.event_type == "worker.future-thing"
    from taskrouter_gateway.eventlog import records

    event = records.to_event(stored)
    assert event.raw_parameters["FutureField"] == "42" and event.event_data["future_field"] == "42"


async def test_public_url_behind_a_proxy(make_gateway, http, emulator):
    public = "https://gateway.example.com/twilio/taskrouter/events"
    gw = await make_gateway(webhook_public_url=public)
    params = _callback(emulator.config.default_workspace_sid)
    # Twilio signed the public URL; the request reaches us on a loopback address.
    status, _, _ = await _post(http, f"http://127.0.0.1:{gw.webhook_port}{gw.settings.webhook_path}", params,
                               _sign(emulator.config.auth_token, public, params))
    assert status == 204
