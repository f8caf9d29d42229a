"""UpstreamClient over real HTTP: pooling, auth, encoding on the wire, replies, errors, paging, logs."""

from __future__ import annotations

import base64
import logging
import time

import pytest
import structlog
from gateway_upstream_scripted import (  # noqa: F401  (fixtures)
    ACCOUNT_SID,
    AUTH_TOKEN,
    WORKERS,
    WORKSPACE,
    Reply,
    ScriptedUpstream,
    fake_time,
    twilio_error,
    upstream,
)
from structlog.testing import capture_logs

from taskrouter_gateway.upstream import (
    Credentials,
    InvalidPageToken,
    UnsafePath,
    UpstreamBadResponse,
    UpstreamClient,
    UpstreamError,
    encode_page_token,
)


def soon() -> float:
    return time.monotonic() + 10.0


def client_for(server: ScriptedUpstream, creds: Credentials | None = None, **kwargs) -> UpstreamClient:
    return UpstreamClient(
        creds or Credentials.from_auth_token(ACCOUNT_SID, AUTH_TOKEN),
        taskrouter_base_url=server.base_url,
        api_base_url=kwargs.pop("api_base_url", server.base_url),
        **kwargs,
    )


async def test_fifty_sequential_requests_share_one_connection(upstream: ScriptedUpstream) -> None:
    upstream.script_forever("GET", WORKERS, Reply(json={"workers": []}))
    async with client_for(upstream) as client:
        for _ in range(50):
            response = await client.get(WORKERS, deadline=soon())
            assert response.status == 200 and response.body == {"workers": []}
    assert len(upstream.requests) == 50
    assert len(upstream.peers) == 1


@pytest.mark.parametrize(
    ("creds", "user", "password"),
    [
        (Credentials.from_auth_token(ACCOUNT_SID, AUTH_TOKEN), ACCOUNT_SID, AUTH_TOKEN),
        (Credentials.from_api_key(ACCOUNT_SID, "SK" + "2" * 32, "key-secret"), "SK" + "2" * 32, "key-secret"),
    ],
    ids=["auth_token", "api_key"],
)
async def test_basic_auth_and_user_agent(
    upstream: ScriptedUpstream, creds: Credentials, user: str, password: str
) -> None:
    upstream.script("GET", WORKERS, Reply(json={}))
    async with client_for(upstream, creds, user_agent="gateway-test/9") as client:
        await client.get(WORKERS, deadline=soon())
    (seen,) = upstream.requests
    scheme, _, token = seen.headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(token).decode() == f"{user}:{password}"
    assert seen.headers["User-Agent"] == "gateway-test/9"
    assert seen.headers["Accept"] == "application/json"


async def test_form_and_query_are_encoded_the_twilio_way(upstream: ScriptedUpstream) -> None:
    upstream.script("POST", WORKERS, Reply(status=201, json={"sid": "WK1"}))
    upstream.script("GET", WORKERS, Reply(json={"workers": []}))
    async with client_for(upstream) as client:
        created = await client.post(
            WORKERS,
            form={
                "FriendlyName": "Ana & Bo",
                "Attributes": {"skills": ["en"], "level": 2},
                "Available": True,
                "ActivitySid": None,
                "Priority": 5,
                "TaskQueueSids": ["WQ1", "WQ2"],
            },
            deadline=soon(),
        )
        await client.get(WORKERS, query={"Available": False, "PageSize": 20, "FriendlyName": None}, deadline=soon())
    assert created.status == 201 and created.body == {"sid": "WK1"}
    post, get = upstream.requests
    assert post.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert post.form == [
        ("FriendlyName", "Ana & Bo"),
        ("Attributes", '{"skills":["en"],"level":2}'),
        ("Available", "true"),
        ("Priority", "5"),
        ("TaskQueueSids", "WQ1"),
        ("TaskQueueSids", "WQ2"),
    ]
    assert get.query == [("Available", "false"), ("PageSize", "20")]
    assert get.form == []


async def test_delete_with_empty_reply_and_if_match_header(upstream: ScriptedUpstream) -> None:
    path = f"{WORKERS}/WK1"
    upstream.script("DELETE", path, Reply(status=204))
    async with client_for(upstream) as client:
        response = await client.delete(path, headers={"If-Match": '"etag-1"'}, deadline=soon())
    assert (response.status, response.body) == (204, None)
    assert upstream.requests[0].headers["If-Match"] == '"etag-1"'


async def test_api_base_routes_to_the_other_host(upstream: ScriptedUpstream) -> None:
    api = ScriptedUpstream()
    await api.start()
    try:
        calls = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/CA1.json"
        api.script("GET", calls, Reply(json={"sid": "CA1"}))
        async with client_for(upstream, api_base_url=api.base_url) as client:
            response = await client.get(calls, deadline=soon(), base="api")
        assert response.body == {"sid": "CA1"}
        assert [r.path for r in api.requests] == [calls] and upstream.requests == []
    finally:
        await api.close()


async def test_twilio_json_error_body_is_parsed(upstream: ScriptedUpstream) -> None:
    path = f"{WORKERS}/WKmissing"
    upstream.script("GET", path, twilio_error(404, 20404, "The requested resource was not found"))
    async with client_for(upstream) as client:
        with pytest.raises(UpstreamError) as caught:
            await client.get(path, deadline=soon())
    err = caught.value
    assert (err.status, err.code, err.message) == (404, 20404, "The requested resource was not found")
    assert err.more_info == "https://www.twilio.com/docs/errors/20404"
    assert (err.method, err.path, err.attempts) == ("GET", path, 1)


async def test_non_json_502_uses_the_reason_phrase(upstream: ScriptedUpstream) -> None:
    upstream.script("GET", WORKERS, Reply(status=502, text="<html>bad gateway</html>", reason="Proxy Down"))
    async with client_for(upstream) as client:
        with pytest.raises(UpstreamError) as caught:
            await client.get(WORKERS, deadline=soon())
    assert (caught.value.status, caught.value.code, caught.value.message) == (502, None, "Proxy Down")
    assert len(upstream.requests) == 1  # 502 is not in the retried set


@pytest.mark.parametrize("reply", [Reply(text="<html>ok</html>"), Reply(json=[1, 2])], ids=["html", "array"])
async def test_a_2xx_that_is_not_a_json_object_is_a_bad_response(upstream: ScriptedUpstream, reply: Reply) -> None:
    upstream.script("GET", WORKERS, reply)
    async with client_for(upstream) as client:
        with pytest.raises(UpstreamBadResponse) as caught:
            await client.get(WORKERS, deadline=soon())
    assert caught.value.status == 200


async def test_redirects_are_not_followed(upstream: ScriptedUpstream) -> None:
    upstream.script("GET", WORKERS, Reply(status=302, headers={"Location": "http://127.0.0.1:9/steal"}))
    async with client_for(upstream) as client:
        with pytest.raises(UpstreamError) as caught:
            await client.get(WORKERS, deadline=soon())
    assert caught.value.status == 302
    assert len(upstream.requests) == 1


async def test_list_pages_follow_tokens_and_stop(upstream: ScriptedUpstream) -> None:
    page2 = f"https://taskrouter.twilio.com{WORKERS}?PageSize=1&Page=1&PageToken=PA1"
    upstream.script("GET", WORKERS, Reply(json={"workers": [{"sid": "WK1"}], "meta": {"next_page_url": page2}}))
    upstream.script("GET", WORKERS, Reply(json={"workers": [{"sid": "WK2"}], "meta": {"next_page_url": None}}))
    async with client_for(upstream) as client:
        first, token = await client.list_page(WORKERS, page_token=None, query={"PageSize": 1}, deadline=soon())
        assert token is not None
        second, last = await client.list_page(WORKERS, page_token=token, query={"PageSize": 99}, deadline=soon())
    assert first.body["workers"] == [{"sid": "WK1"}] and second.body["workers"] == [{"sid": "WK2"}]
    assert last is None
    assert [r.query for r in upstream.requests] == [
        [("PageSize", "1")],
        [("PageSize", "1"), ("Page", "1"), ("PageToken", "PA1")],  # the token's query, not the new one
    ]


async def test_page_token_for_another_resource_never_reaches_the_upstream(upstream: ScriptedUpstream) -> None:
    evil = encode_page_token(f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json?PageSize=1")
    async with client_for(upstream) as client:
        with pytest.raises(InvalidPageToken):
            await client.list_page(WORKERS, page_token=evil, deadline=soon())
    assert upstream.requests == []


@pytest.mark.parametrize("path", ["/v1/Workspaces/../Accounts", f"{WORKERS}/WK1?x=1#f", "v1/Workspaces", "//h/x"])
async def test_unsafe_paths_are_refused_before_sending(upstream: ScriptedUpstream, path: str) -> None:
    async with client_for(upstream) as client:
        with pytest.raises(UnsafePath):
            await client.get(path, deadline=soon())
    assert upstream.requests == []


@pytest.mark.parametrize("header", ["Authorization", "user-agent", "Host", "Content-Type"])
async def test_client_owned_headers_cannot_be_overridden(upstream: ScriptedUpstream, header: str) -> None:
    async with client_for(upstream) as client:
        with pytest.raises(ValueError, match=header):
            await client.get(WORKERS, headers={header: "x"}, deadline=soon())
    assert upstream.requests == []


async def test_request_before_start_and_double_start_are_errors(upstream: ScriptedUpstream) -> None:
    client = client_for(upstream)
    with pytest.raises(RuntimeError, match="start"):
        await client.get(WORKERS, deadline=soon())
    await client.start()
    try:
        with pytest.raises(RuntimeError, match="already started"):
            await client.start()
    finally:
        await client.close()
    with pytest.raises(RuntimeError, match="start"):
        await client.get(WORKERS, deadline=soon())


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"taskrouter_base_url": "ftp://taskrouter.twilio.com"}, "taskrouter_base_url"),
        ({"api_base_url": "https://api.twilio.com/prefix"}, "api_base_url"),
        ({"api_base_url": "https://user:pw@api.twilio.com"}, "api_base_url"),
        ({"connect_timeout": 0}, "connect_timeout"),
        ({"default_timeout": -1}, "default_timeout"),
        ({"connection_limit": 0}, "connection_limit"),
    ],
)
def test_bad_constructor_arguments(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        UpstreamClient(Credentials.from_auth_token(ACCOUNT_SID, AUTH_TOKEN), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_form_is_refused_outside_post(upstream: ScriptedUpstream, method: str) -> None:
    async with client_for(upstream) as client:
        with pytest.raises(ValueError, match="only sent with POST"):
            await client.request(method, WORKERS, form={"A": 1}, deadline=soon())
    assert upstream.requests == []


async def test_unknown_base_is_an_error(upstream: ScriptedUpstream) -> None:
    async with client_for(upstream) as client:
        with pytest.raises(ValueError, match="base"):
            await client.get(WORKERS, deadline=soon(), base="voice")  # type: ignore[arg-type]


@pytest.fixture
def debug_logs():
    """Capture structlog events at every level, whatever another test configured before."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with capture_logs() as logs:
            yield logs
    finally:
        structlog.configure(**saved)


async def test_rate_limit_headers_are_returned_and_logged(upstream: ScriptedUpstream, debug_logs) -> None:
    limits = {"X-Rate-Limit-Limit": "100", "X-Rate-Limit-Remaining": "42", "X-Rate-Limit-Config": "Workers-List"}
    upstream.script("GET", WORKERS, Reply(json={}, headers=limits))
    async with client_for(upstream) as client:
        response = await client.get(WORKERS, deadline=soon())
    assert response.rate_limit is not None
    assert (response.rate_limit.limit, response.rate_limit.remaining, response.rate_limit.config) == (
        100, 42, "Workers-List",
    )
    assert response.headers["x-rate-limit-remaining"] == "42"
    (line,) = [e for e in debug_logs if e["event"] == "upstream_call"]
    assert line["log_level"] == "debug"
    assert (line["method"], line["path"], line["status"], line["attempt"], line["outcome"]) == (
        "GET", WORKERS, 200, 1, "ok",
    )
    assert line["latency_ms"] >= 0
    assert (line["rate_limit_limit"], line["rate_limit_remaining"], line["rate_limit_config"]) == (
        "100", "42", "Workers-List",
    )
    assert not [e for e in debug_logs if e["event"] == "upstream_rate_limit_low"]


async def test_low_remaining_budget_warns(upstream: ScriptedUpstream, debug_logs) -> None:
    limits = {"X-Rate-Limit-Limit": "100", "X-Rate-Limit-Remaining": "3", "X-Rate-Limit-Config": "Worker-Update"}
    upstream.script("POST", f"{WORKERS}/WK1", Reply(json={}, headers=limits))
    async with client_for(upstream) as client:
        await client.post(f"{WORKERS}/WK1", form={"ActivitySid": "WA1"}, deadline=soon())
    (warning,) = [e for e in debug_logs if e["event"] == "upstream_rate_limit_low"]
    assert warning["log_level"] == "warning"
    assert (warning["remaining"], warning["limit"], warning["config"]) == (3, 100, "Worker-Update")


async def test_logs_never_hold_secrets_or_pii(upstream: ScriptedUpstream, debug_logs) -> None:
    key_secret = "KEY-SECRET-zz9"
    upstream.script("POST", WORKERS, Reply(status=201, json={"sid": "WK1"}))
    upstream.script("POST", WORKERS, twilio_error(400, 20001, "Invalid attributes"))
    creds = Credentials.from_api_key(ACCOUNT_SID, "SK" + "3" * 32, key_secret)
    form = {"FriendlyName": "Private Person", "Attributes": {"phone": "+15550001111"}}
    async with client_for(upstream, creds) as client:
        await client.post(WORKERS, form=form, query={"FriendlyName": "Private Person"}, deadline=soon())
        with pytest.raises(UpstreamError) as caught:
            await client.post(WORKERS, form=form, deadline=soon())
    calls = [e for e in debug_logs if e["event"] == "upstream_call"]
    assert [c["status"] for c in calls] == [201, 400]
    assert calls[1]["log_level"] == "info" and calls[1]["twilio_code"] == 20001
    header = creds.authorization_header()
    everything = repr(debug_logs) + str(caught.value) + repr(caught.value)
    for secret in (key_secret, header, header.split()[1], "Private Person", "Private+Person", "+15550001111"):
        assert secret not in everything
    # The request itself did carry them: the check above is not vacuous.
    assert upstream.requests[0].form[0] == ("FriendlyName", "Private Person")
    assert upstream.requests[0].headers["Authorization"] == header
