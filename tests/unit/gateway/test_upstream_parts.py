"""Small pure parts of upstream/: safe paths, credentials, rate-limit headers, Twilio error bodies."""

from __future__ import annotations

import base64

import pytest
from multidict import CIMultiDict

from taskrouter_gateway.upstream.credentials import Credentials
from taskrouter_gateway.upstream.errors import UnsafePath, UpstreamError
from taskrouter_gateway.upstream.paths import check_path, is_plain_path, join_path
from taskrouter_gateway.upstream.response import RateLimit

SID = "WS0123456789abcdef0123456789abcdef"


def test_join_path_builds_twilio_paths() -> None:
    assert join_path("v1", "Workspaces", SID, "Workers") == f"/v1/Workspaces/{SID}/Workers"
    assert join_path("2010-04-01", "Accounts", "AC1", "Calls.json") == "/2010-04-01/Accounts/AC1/Calls.json"


@pytest.mark.parametrize("segment", ["", ".", "..", "a/b", "a?b", "a#b", "a b", "a%2Fb", "é", "a\nb"])
def test_join_path_rejects_unsafe_segments(segment: str) -> None:
    with pytest.raises(UnsafePath):
        join_path("v1", "Workspaces", segment)


@pytest.mark.parametrize(
    "path",
    ["", "v1/Workspaces", "//evil.example/v1", "/v1//Workspaces", "/v1/../x", "/v1/Workspaces/", "/v1?x=1"],
)
def test_check_path_rejects(path: str) -> None:
    with pytest.raises(UnsafePath):
        check_path(path)
    assert not is_plain_path(path)


@pytest.mark.parametrize("path", [f"/v1/Workspaces/{SID}/Workers", "/2010-04-01/Accounts/AC1/Calls.json", "/.x/a~b", "/..."])
def test_check_path_accepts_what_the_fast_path_accepts(path: str) -> None:
    assert is_plain_path(path) and check_path(path) == path


@pytest.mark.parametrize("path", ["/.", "/..", "/a/./b", "/a/..", "/a b", "/é", None, b"/v1"])
def test_the_fast_path_refuses_what_the_segment_rule_refuses(path) -> None:
    assert not is_plain_path(path)


def test_join_path_needs_a_segment() -> None:
    with pytest.raises(UnsafePath):
        join_path()


def test_auth_token_credentials_header() -> None:
    creds = Credentials.from_auth_token("AC123", "tok3n")
    expected = "Basic " + base64.b64encode(b"AC123:tok3n").decode()
    assert creds.authorization_header() == expected
    assert creds.account_sid == "AC123"


def test_api_key_credentials_authenticate_as_the_key_but_act_for_the_account() -> None:
    creds = Credentials.from_api_key("AC123", "SK456", "s3cret")
    assert creds.authorization_header() == "Basic " + base64.b64encode(b"SK456:s3cret").decode()
    assert creds.account_sid == "AC123"


def test_credentials_repr_hides_the_secret() -> None:
    assert "s3cret" not in repr(Credentials.from_api_key("AC123", "SK456", "s3cret"))


@pytest.mark.parametrize(
    "args",
    [("", "SK", "x"), ("AC", "", "x"), ("AC", "SK", ""), ("AC", "S:K", "x")],
)
def test_bad_credentials_are_rejected(args: tuple[str, str, str]) -> None:
    with pytest.raises(ValueError, match="credentials"):
        Credentials(*args)


def test_rate_limit_headers_are_read_case_insensitively() -> None:
    headers = CIMultiDict(
        {"x-rate-limit-limit": "100", "X-Rate-Limit-Remaining": "7", "X-RATE-LIMIT-CONFIG": "Worker-Update",
         "X-Rate-Limit-Future": "z", "Content-Type": "application/json"}
    )
    rate = RateLimit.from_headers(headers)
    assert rate is not None
    assert (rate.limit, rate.remaining, rate.config) == (100, 7, "Worker-Update")
    assert dict(rate.raw) == {"limit": "100", "remaining": "7", "config": "Worker-Update", "future": "z"}
    assert rate.log_fields()["rate_limit_remaining"] == "7"


def test_no_rate_limit_headers_means_none() -> None:
    assert RateLimit.from_headers(CIMultiDict({"Content-Type": "application/json"})) is None


def test_malformed_rate_limit_numbers_become_none() -> None:
    rate = RateLimit.from_headers({"X-Rate-Limit-Limit": "lots", "X-Rate-Limit-Remaining": "-1"})
    assert rate is not None and rate.limit is None and rate.remaining is None
    assert rate.is_low(0.1, 0) is False


@pytest.mark.parametrize(
    ("limit", "remaining", "low"),
    [(100, 50, False), (100, 11, False), (100, 10, True), (100, 0, True), (None, 0, True), (None, 5, False)],
)
def test_rate_limit_low_threshold(limit: int | None, remaining: int, low: bool) -> None:
    assert RateLimit(limit=limit, remaining=remaining).is_low(0.1, 0) is low


def test_twilio_error_body_is_parsed() -> None:
    body = {"code": 20404, "message": "The requested resource was not found",
            "more_info": "https://www.twilio.com/docs/errors/20404", "status": 404}
    err = UpstreamError.from_body(404, body, method="GET", path="/v1/Workspaces/WSx")
    assert (err.status, err.code, err.message) == (404, 20404, "The requested resource was not found")
    assert err.more_info == "https://www.twilio.com/docs/errors/20404"
    assert (err.method, err.path, err.retry_after) == ("GET", "/v1/Workspaces/WSx", None)
    assert "20404" in str(err) and "HTTP 404" in str(err)


@pytest.mark.parametrize(
    ("body", "reason", "message"),
    [
        (None, None, "Bad Gateway"),
        ("<html>oops</html>", None, "Bad Gateway"),
        ([1, 2], None, "Bad Gateway"),
        ({"code": "x", "message": ""}, None, "Bad Gateway"),
        (None, "Upstream Exploded", "Upstream Exploded"),
    ],
)
def test_non_twilio_error_bodies_fall_back_to_the_reason(body: object, reason: str | None, message: str) -> None:
    err = UpstreamError.from_body(502, body, method="GET", path="/v1/x", reason=reason)
    assert (err.status, err.code, err.more_info, err.message) == (502, None, None, message)


def test_numeric_string_code_is_accepted_and_unknown_status_has_a_message() -> None:
    err = UpstreamError.from_body(599, {"code": "20001"}, method="GET", path="/v1/x")
    assert err.code == 20001 and err.message == "HTTP 599"
