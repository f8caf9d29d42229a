"""X-Twilio-Signature: checked against Twilio's published example and two independent verifiers."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qsl, urlencode

import pytest
from twilio.request_validator import RequestValidator

from taskrouter_emulator.signing import compute_signature

# The worked example on Twilio's webhook-security page ("Validating Requests are coming from Twilio").
DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_TOKEN = "12345"
DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}
DOC_SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def independent_verify(url: str, body: str, token: str, signature: str) -> bool:
    """Rebuilds the signed string from a raw form body, the way a receiver sees it."""
    pairs = sorted(parse_qsl(body, keep_blank_values=True))
    payload = url + "".join(f"{name}{value}" for name, value in pairs)
    expected = base64.b64encode(hmac.new(token.encode(), payload.encode(), hashlib.sha1).digest()).decode()
    return hmac.compare_digest(expected, signature)


def test_twilio_documented_example():
    assert compute_signature(DOC_URL, DOC_PARAMS, DOC_TOKEN) == DOC_SIGNATURE


def test_parameter_order_does_not_matter():
    reversed_params = dict(reversed(list(DOC_PARAMS.items())))
    assert list(reversed_params) != list(DOC_PARAMS)
    assert compute_signature(DOC_URL, reversed_params, DOC_TOKEN) == DOC_SIGNATURE


@pytest.mark.parametrize(
    "url, params, token",
    [
        (DOC_URL, {**DOC_PARAMS, "Digits": "9999"}, DOC_TOKEN),  # a changed value
        (DOC_URL, {k: v for k, v in DOC_PARAMS.items() if k != "To"}, DOC_TOKEN),  # a missing parameter
        ("https://mycompany.com/myapp.php?foo=1&bar=3", DOC_PARAMS, DOC_TOKEN),  # another query
        ("https://mycompany.com:8443/myapp.php?foo=1&bar=2", DOC_PARAMS, DOC_TOKEN),  # another port
        (DOC_URL, DOC_PARAMS, "54321"),  # another token
    ],
)
def test_any_change_changes_the_signature(url, params, token):
    assert compute_signature(url, params, token) != DOC_SIGNATURE


def test_name_value_boundaries_are_not_separated():
    # Twilio concatenates with no separators, so these two forms sign the same string; a verifier
    # that adds separators would disagree. Pinning it keeps us byte-compatible with Twilio.
    assert compute_signature("https://x/", {"ab": "c"}, "t") == compute_signature("https://x/", {"a": "bc"}, "t")


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"EventType": "worker.activity.update", "WorkerName": "Zoë Ünïcode ✓", "WorkerAttributes": '{"a": [1, 2]}'},
        {"B": "&=+% ", "a": "lower sorts after upper", "Z": ""},
    ],
)
def test_agrees_with_independent_verifier_and_twilios_validator(params):
    url = "http://127.0.0.1:8123/callbacks/taskrouter?tenant=a%20b"
    token = "emulator" + "0" * 24
    signature = compute_signature(url, params, token)
    body = urlencode(params)
    assert independent_verify(url, body, token, signature)
    assert not independent_verify(url, body, token + "x", signature)
    # Twilio's own helper library, which receivers actually use.
    assert RequestValidator(token).validate(url, params, signature)


def test_sorts_by_code_point_like_twilio():
    # Upper-case names sort before lower-case ones (byte order), not case-insensitively.
    params = {"b": "2", "A": "1"}
    expected = base64.b64encode(hmac.new(b"t", b"https://x/A1b2", hashlib.sha1).digest()).decode()
    assert compute_signature("https://x/", params, "t") == expected


def test_empty_auth_token_is_refused():
    with pytest.raises(ValueError, match="auth_token"):
        compute_signature(DOC_URL, DOC_PARAMS, "")
