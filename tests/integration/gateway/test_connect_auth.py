"""Auth parity: each scope case of test_auth.py (tokens, scopes, workspaces, streams, audit), over the Connect
port with the same auth file, the same tokens and the same answers in Connect's error JSON."""

from __future__ import annotations

import json

import aiohttp
import pytest
from connectutil import END_STREAM, Envelopes, details_of, envelope
from test_auth import OTHER_WS, READER, WRITER, audit_lines, write_auth_file

from taskrouter_gateway import logs
from taskrouter_gateway.auth import hash_token

LIST = "/taskrouter.gateway.v1.WorkerService/ListWorkers"
CREATE = "/taskrouter.gateway.v1.WorkerService/CreateWorker"
DELETE = "/taskrouter.gateway.v1.WorkerService/DeleteWorker"
ACTIVITIES = "/taskrouter.gateway.v1.ActivityService/ListActivities"
STREAM = "/taskrouter.gateway.v1.EventService/StreamEvents"


@pytest.fixture
def ws(emulator) -> str:
    return emulator.config.default_workspace_sid


@pytest.fixture
async def secured(make_gateway, tmp_path, ws):
    path = tmp_path / "callers.toml"
    write_auth_file(path, ws)
    return await make_gateway(auth_file=str(path), http_port=0)


@pytest.fixture
async def call(secured):
    async with aiohttp.ClientSession() as session:
        async def post(path: str, body: dict, token: str | None = None, **headers: str) -> tuple[int, dict]:
            if token is not None:
                headers["authorization"] = f"Bearer {token}"
            async with session.post(f"{secured.http_url}{path}", data=json.dumps(body),
                                    headers={"content-type": "application/json", **headers}) as response:
                return response.status, await response.json()
        yield post


@pytest.mark.parametrize("headers,message", [
    ({}, "no credential"),
    ({"authorization": "Bearer not-a-token"}, "the bearer token is not known to this gateway"),
    ({"authorization": "Basic abcdefgh"}, "the authorization metadata must be 'Bearer <token>'"),
])
async def test_missing_and_wrong_tokens_are_unauthenticated(call, ws, headers, message):
    status, error = await call(LIST, {"workspaceSid": ws}, **headers)
    assert (status, error["code"]) == (401, "unauthenticated")
    assert error["message"].startswith(message)
    assert details_of(error)["google.rpc.ErrorInfo"].reason == "CALLER_UNAUTHENTICATED"
    status, listed = await call(LIST, {"workspaceSid": ws}, READER)
    assert status == 200 and isinstance(listed.get("workers", []), list)


async def test_a_read_only_caller_cannot_write(call, ws):
    status, error = await call(CREATE, {"workspaceSid": ws, "friendlyName": "X"}, READER)
    assert (status, error["code"]) == (403, "permission_denied")
    info = details_of(error)["google.rpc.ErrorInfo"]
    assert (info.reason, info.metadata["scope"], info.metadata["caller"]) == ("CALLER_MISSING_SCOPE", "write", "dashboard")
    assert error["message"] == "caller 'dashboard' lacks the 'write' scope for this RPC"
    status, listed = await call(ACTIVITIES, {"workspaceSid": ws}, READER)
    assert status == 200 and listed["activities"]


async def test_a_workspace_outside_the_allow_list_is_refused(call, ws):
    status, error = await call(LIST, {"workspaceSid": OTHER_WS}, WRITER)
    assert (status, error["code"]) == (403, "permission_denied")
    info = details_of(error)["google.rpc.ErrorInfo"]
    assert (info.reason, info.metadata["workspace_sid"]) == ("CALLER_WORKSPACE_NOT_ALLOWED", OTHER_WS)
    status, made = await call(CREATE, {"workspaceSid": ws, "friendlyName": "In"}, WRITER)
    assert status == 200 and made["sid"].startswith("WK")


async def test_streams_need_the_events_scope_and_the_workspace(secured, ws):
    async def open_stream(body: dict, token: str | None) -> dict:
        headers = {"content-type": "application/connect+json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        async with aiohttp.ClientSession() as session, \
                session.post(f"{secured.http_url}{STREAM}", data=envelope(json.dumps(body).encode()),
                             headers=headers) as response:
            flags, payload = Envelopes().feed(await response.read())[-1]
        assert flags & END_STREAM
        return json.loads(payload)["error"]

    error = await open_stream({"workspaceSid": ws}, None)
    assert error["code"] == "unauthenticated"
    error = await open_stream({"workspaceSid": OTHER_WS}, WRITER)
    assert error["code"] == "permission_denied"
    assert details_of(error)["google.rpc.ErrorInfo"].metadata["scope"] == "events"


async def test_write_rpcs_log_one_audit_line_with_the_caller(call, ws, capsys):
    logs.configure(log_format="json", level="info")
    capsys.readouterr()
    status, made = await call(CREATE, {"workspaceSid": ws, "friendlyName": "Alice Secret",
                                       "attributes": '{"ssn": "078-05-1120"}'}, WRITER, **{"x-request-id": "audit-c1"})
    assert status == 200
    status, _ = await call(DELETE, {"workspaceSid": ws, "sid": made["sid"]}, READER)
    assert status == 403
    audits, err = await audit_lines(capsys, 2)
    assert [(x["caller"], x["code"], x["resource_sid"]) for x in audits] == [
        ("router", "OK", made["sid"]),
        ("dashboard", "PERMISSION_DENIED", made["sid"]),
    ]
    assert (audits[0]["workspace_sid"], audits[0]["request_id"]) == (ws, "audit-c1")
    assert audits[0]["rpc_method"] == CREATE
    for secret in ("Alice Secret", "078-05-1120", WRITER, READER, hash_token(WRITER), hash_token(READER)):
        assert secret not in err
