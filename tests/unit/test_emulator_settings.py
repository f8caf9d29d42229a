"""Pure pieces of the emulator: its settings, If-Match parsing, and page tokens."""

from __future__ import annotations

import pytest

from taskrouter_emulator.config import EmulatorConfig, local_url
from taskrouter_emulator.errors import TwilioApiError
from taskrouter_emulator.paging import Cursor, decode_token, encode_token
from taskrouter_emulator.errors import etag_matches


@pytest.mark.parametrize(
    "overrides, mentions",
    [
        ({"port": -1}, "port"),
        ({"port": 65536}, "port"),
        ({"account_sid": "AC123"}, "account_sid"),
        ({"api_key_sid": "AC" + "0" * 32}, "api_key_sid"),
        ({"default_workspace_sid": "WA" + "0" * 32}, "default_workspace_sid"),
        ({"auth_token": ""}, "auth_token"),
        ({"public_base_url": "localhost:8181"}, "public_base_url"),
        ({"public_base_url": "http://host/?q=1"}, "public_base_url"),
    ],
)
def test_bad_settings_are_refused(overrides, mentions):
    with pytest.raises(ValueError, match=mentions):
        EmulatorConfig(**overrides)


def test_base_url_is_the_public_one_when_set_else_the_bound_address():
    assert EmulatorConfig(public_base_url="https://tr.example.com/").bound_base_url(1234) == "https://tr.example.com"
    assert EmulatorConfig(host="127.0.0.1").bound_base_url(1234) == "http://127.0.0.1:1234"


@pytest.mark.parametrize(
    "host, url",
    [
        ("0.0.0.0", "http://127.0.0.1:80"),
        ("::", "http://[::1]:80"),
        ("::1", "http://[::1]:80"),
        ("localhost", "http://localhost:80"),
    ],
)
def test_local_url_names_wildcard_binds_by_loopback(host, url):
    assert local_url(host, 80) == url


@pytest.mark.parametrize(
    "header, version, expected",
    [
        (None, 4, True),
        ('"4"', 4, True),
        ("4", 4, True),
        ('W/"4"', 4, True),
        ("*", 9, True),
        ('"1", "4"', 4, True),
        ('"3"', 4, False),
        ("", 4, False),
        ('"04"', 4, False),
    ],
)
def test_if_match(header, version, expected):
    assert etag_matches(header, version) is expected


def test_page_tokens_round_trip_and_are_bound_to_their_list():
    cursor = Cursor(forward=False, key=(1700000000.123, 42))
    token = encode_token("workers:created", cursor)
    assert token.startswith("PT")
    assert decode_token("workers:created", token) == cursor
    with pytest.raises(TwilioApiError) as other_list:
        decode_token("events", token)
    assert (other_list.value.status, other_list.value.code) == (400, 20001)
