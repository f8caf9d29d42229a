"""Page tokens: round trips for both APIs, and every way a token can be wrong."""

from __future__ import annotations

import base64

import pytest

from taskrouter_gateway.upstream.paging import (
    MAX_TOKEN_CHARS,
    TOKEN_PREFIX,
    InvalidPageToken,
    decode_page_token,
    encode_page_token,
    next_page_token,
)

WORKERS = "/v1/Workspaces/WS0123456789abcdef0123456789abcdef/Workers"
CALLS = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Calls.json"


def _raw_token(target: str, prefix: str = TOKEN_PREFIX) -> str:
    return prefix + base64.urlsafe_b64encode(target.encode()).rstrip(b"=").decode()


def test_taskrouter_next_page_url_round_trip_drops_the_host() -> None:
    url = f"https://taskrouter.twilio.com{WORKERS}?PageSize=50&Page=1&PageToken=PAabc"
    token = next_page_token({"workers": [], "meta": {"next_page_url": url, "page": 0}})
    assert token is not None and token.startswith(TOKEN_PREFIX)
    assert "=" not in token and "/" not in token and "+" not in token
    assert decode_page_token(token, WORKERS) == f"{WORKERS}?PageSize=50&Page=1&PageToken=PAabc"


def test_api_2010_next_page_uri_round_trip() -> None:
    uri = f"{CALLS}?PageSize=2&Page=1&PageToken=PAxyz"
    token = next_page_token({"calls": [], "next_page_uri": uri})
    assert token is not None
    assert decode_page_token(token, CALLS) == uri


@pytest.mark.parametrize(
    "body",
    [
        None,
        {},
        {"meta": {"next_page_url": None}},
        {"meta": {"next_page_url": ""}},
        {"next_page_uri": None},
        {"meta": "garbage"},
    ],
)
def test_last_page_has_no_token(body: object) -> None:
    assert next_page_token(body) is None  # type: ignore[arg-type]


def test_path_without_query_round_trips() -> None:
    assert decode_page_token(encode_page_token(WORKERS), WORKERS) == WORKERS


def test_token_for_another_list_is_rejected() -> None:
    token = encode_page_token(f"https://taskrouter.twilio.com{WORKERS}?Page=1")
    other = WORKERS.replace("/Workers", "/Tasks")
    with pytest.raises(InvalidPageToken, match="different list"):
        decode_page_token(token, other)


@pytest.mark.parametrize(
    "target",
    [
        WORKERS + "/WK0123456789abcdef0123456789abcdef",  # deeper resource
        WORKERS + "/../Tasks",  # traversal that happens to start with the list path
        WORKERS + "/",
        "/v1/Workspaces/WS0123456789abcdef0123456789abcdef/Workers;x",
    ],
)
def test_tampered_path_is_rejected(target: str) -> None:
    with pytest.raises(InvalidPageToken):
        decode_page_token(_raw_token(target), WORKERS)


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        (f"//evil.example{WORKERS}", "relative path"),
        (f"https://evil.example{WORKERS}", "relative path"),
        (f"{WORKERS}#frag", "relative path"),
        (f"{WORKERS}?a=1&&b", "malformed query"),
        (f"{WORKERS}?PageSize=1\r\nX-Injected: 1", "characters a URL cannot"),
        (f"{WORKERS}?Name=a b", "characters a URL cannot"),
    ],
)
def test_decoded_targets_that_are_not_plain_paths_are_rejected(target: str, fragment: str) -> None:
    with pytest.raises(InvalidPageToken, match=fragment):
        decode_page_token(_raw_token(target), WORKERS)


@pytest.mark.parametrize(
    ("token", "fragment"),
    [
        ("", "empty"),
        ("v2." + _raw_token(WORKERS, prefix=""), "unknown version"),
        (_raw_token(WORKERS, prefix=""), "unknown version"),
        ("v1.not base64!", "not urlsafe base64"),
        ("v1.abc=", "not urlsafe base64"),
        ("v1.a", "does not decode"),  # one leftover character cannot be valid base64
        ("v1.L3YxL_8", "does not decode"),  # bytes that are not ASCII
        ("v1." + "A" * MAX_TOKEN_CHARS, "too long"),
    ],
)
def test_garbage_tokens_are_rejected(token: str, fragment: str) -> None:
    with pytest.raises(InvalidPageToken, match=fragment):
        decode_page_token(token, WORKERS)


def test_non_canonical_base64_is_rejected() -> None:
    target = WORKERS + "?a=1"
    assert len(target) % 3 == 1  # so the last base64 character carries 4 unused bits
    good = encode_page_token(target)
    last = good[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # Same decoded bytes, different text: flip a padding bit of the last character.
    sibling = good[:-1] + alphabet[alphabet.index(last) ^ 1]
    assert base64.urlsafe_b64decode(sibling[3:] + "==") == base64.urlsafe_b64decode(good[3:] + "==")
    with pytest.raises(InvalidPageToken, match="does not decode"):
        decode_page_token(sibling, WORKERS)
    assert decode_page_token(good, WORKERS) == target


def test_encode_rejects_urls_without_a_path() -> None:
    with pytest.raises(ValueError):
        encode_page_token("https://taskrouter.twilio.com")


def test_invalid_page_token_is_a_value_error() -> None:
    assert issubclass(InvalidPageToken, ValueError)
