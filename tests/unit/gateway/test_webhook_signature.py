"""X-Twilio-Signature verification (taskrouter_gateway.ingest.signature).

Signatures are made independently of the module under test: by Twilio's own RequestValidator (the installed
`twilio` package) and by a hand-written signer below that builds the signed string its own way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import string
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import MultiDict
from twilio.request_validator import RequestValidator

from taskrouter_gateway.ingest.signature import (
    SIGNATURE_HEADER,
    SignatureVerifier,
    compute_signature,
    signed_payload,
)

TOKEN = "primary-auth-token-5f1c9e"
SECONDARY = "secondary-auth-token-77ab02"
URL = "https://gw.example.com/twilio/events?source=taskrouter"
PARAMS = {
    "AccountSid": "AC00000000000000000000000000000000",
    "WorkspaceSid": "WS00000000000000000000000000000000",
    "EventType": "task.created",
    "EventDescription": "Task TA1 created",
    "TaskAttributes": '{"type":"support","lang":"en"}',
    "Timestamp": "1714566600",
}
Pairs = list[tuple[str, str]]


# --- independent signers -------------------------------------------------------------------------------


def twilio_sign(url: str, params: dict[str, str] | Pairs, token: str) -> str:
    """Twilio's RequestValidator; repeated keys go in as a MultiDict (it reads them with getall)."""
    data = MultiDict(params) if isinstance(params, list) else params
    return RequestValidator(token).compute_signature(url, data)


def hand_sign(url: str, pairs: Pairs, token: str) -> str:
    """A second signer: group values by name, dedupe and sort each group, then HMAC-SHA1 + base64."""
    pieces = [url]
    for name, group in itertools.groupby(sorted(pairs, key=lambda pair: pair[0]), key=lambda pair: pair[0]):
        for value in sorted({value for _, value in group}):
            pieces.append(f"{name}{value}")
    mac = hmac.new(token.encode(), "".join(pieces).encode(), "sha1")
    return base64.b64encode(mac.digest()).decode()


def with_default_port(url: str) -> str:
    parts = urlsplit(url)
    port = 443 if parts.scheme == "https" else 80
    return parts._replace(netloc=f"{parts.hostname}:{port}").geturl()


def without_port(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=parts.hostname or "").geturl()


def flip(signature: str, index: int) -> str:
    """The signature with one character replaced by a different base64 character."""
    alphabet = string.ascii_letters + string.digits + "+/="
    replacement = alphabet[(alphabet.index(signature[index]) + 1) % len(alphabet)]
    return signature[:index] + replacement + signature[index + 1 :]


def body_url(base: str, body: bytes) -> str:
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}bodySHA256={hashlib.sha256(body).hexdigest()}"


# --- the documented vector ------------------------------------------------------------------------------

DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}
DOC_SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="  # from Twilio's "Webhooks security" docs


def test_documented_vector_agrees_with_twilio_and_the_hand_signer() -> None:
    assert twilio_sign(DOC_URL, DOC_PARAMS, "12345") == DOC_SIGNATURE
    assert hand_sign(DOC_URL, list(DOC_PARAMS.items()), "12345") == DOC_SIGNATURE
    assert compute_signature(DOC_URL, DOC_PARAMS, "12345") == DOC_SIGNATURE
    assert SignatureVerifier(["12345"]).verify_form(DOC_URL, DOC_PARAMS, DOC_SIGNATURE)


def test_documented_vector_with_one_param_changed_fails() -> None:
    changed = {**DOC_PARAMS, "Digits": "1235"}
    assert not SignatureVerifier(["12345"]).verify_form(DOC_URL, changed, DOC_SIGNATURE)


def test_signed_payload_is_url_then_sorted_names_and_values() -> None:
    payload = signed_payload("https://h/p", [("b", "2"), ("a", "9"), ("a", "1"), ("a", "1")])
    assert payload == "https://h/pa1a9b2"


# --- form requests --------------------------------------------------------------------------------------


@pytest.fixture
def verifier() -> SignatureVerifier:
    return SignatureVerifier([TOKEN])


def test_valid_signature_verifies(verifier: SignatureVerifier) -> None:
    assert verifier.verify_form(URL, PARAMS, twilio_sign(URL, PARAMS, TOKEN))


def test_params_as_pairs_or_mapping_give_the_same_answer(verifier: SignatureVerifier) -> None:
    signature = twilio_sign(URL, PARAMS, TOKEN)
    assert verifier.verify_form(URL, list(reversed(PARAMS.items())), signature)
    assert verifier.verify_form(URL, MultiDict(PARAMS), signature)


def test_signature_for_other_content_fails(verifier: SignatureVerifier) -> None:
    other = twilio_sign(URL, {**PARAMS, "EventType": "task.updated"}, TOKEN)
    assert not verifier.verify_form(URL, PARAMS, other)


@pytest.mark.parametrize("index", [0, 13, 26, 27])
def test_one_character_changed_fails(verifier: SignatureVerifier, index: int) -> None:
    signature = twilio_sign(URL, PARAMS, TOKEN)
    assert not verifier.verify_form(URL, PARAMS, flip(signature, index))


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda p: {**p, "EventType": "task.canceled"}, id="tampered-value"),
        pytest.param(lambda p: {**p, "TaskAttributes": p["TaskAttributes"] + " "}, id="trailing-space"),
        pytest.param(lambda p: {**p, "Extra": "1"}, id="added"),
        pytest.param(lambda p: {**p, "Extra": ""}, id="added-empty"),
        pytest.param(lambda p: {k: v for k, v in p.items() if k != "Timestamp"}, id="removed"),
        pytest.param(lambda p: {(k.lower() if k == "EventType" else k): v for k, v in p.items()}, id="renamed"),
        pytest.param(lambda p: {}, id="all-removed"),
    ],
)
def test_changed_params_fail(
    verifier: SignatureVerifier, mutate: Callable[[dict[str, str]], dict[str, str]]
) -> None:
    signature = twilio_sign(URL, PARAMS, TOKEN)
    assert not verifier.verify_form(URL, mutate(dict(PARAMS)), signature)


def test_changed_url_fails(verifier: SignatureVerifier) -> None:
    signature = twilio_sign(URL, PARAMS, TOKEN)
    assert not verifier.verify_form(URL.replace("taskrouter", "taskrouterx"), PARAMS, signature)
    assert not verifier.verify_form(URL.replace("/events", "/Events"), PARAMS, signature)
    assert not verifier.verify_form(URL.replace("https:", "http:"), PARAMS, signature)


def test_wrong_token_fails(verifier: SignatureVerifier) -> None:
    assert not verifier.verify_form(URL, PARAMS, twilio_sign(URL, PARAMS, "someone-elses-token"))


def test_secondary_token_works_during_rotation() -> None:
    both = SignatureVerifier([TOKEN, SECONDARY])
    assert both.verify_form(URL, PARAMS, twilio_sign(URL, PARAMS, SECONDARY))
    assert both.verify_form(URL, PARAMS, twilio_sign(URL, PARAMS, TOKEN))
    assert not SignatureVerifier([TOKEN]).verify_form(URL, PARAMS, twilio_sign(URL, PARAMS, SECONDARY))
    assert not both.verify_form(URL, PARAMS, twilio_sign(URL, PARAMS, "third-token"))


REPEATED: Pairs = [
    ("TaskQueueSids", "WQ3"),
    ("EventType", "worker.activity.update"),
    ("TaskQueueSids", "WQ1"),
    ("TaskQueueSids", "WQ2"),
]


def test_repeated_keys_verify_in_any_order(verifier: SignatureVerifier) -> None:
    signature = twilio_sign(URL, REPEATED, TOKEN)
    assert signature == hand_sign(URL, REPEATED, TOKEN)
    assert verifier.verify_form(URL, REPEATED, signature)
    assert verifier.verify_form(URL, list(reversed(REPEATED)), signature)
    assert verifier.verify_form(URL, MultiDict(REPEATED), signature)


def test_repeated_keys_are_all_signed(verifier: SignatureVerifier) -> None:
    signature = twilio_sign(URL, REPEATED, TOKEN)
    assert not verifier.verify_form(URL, REPEATED[:-1], signature)  # one value dropped
    assert not verifier.verify_form(URL, dict(REPEATED), signature)  # a plain dict keeps only the last value
    assert not verifier.verify_form(URL, [*REPEATED, ("TaskQueueSids", "WQ4")], signature)


def test_identical_repeated_pairs_count_once_as_in_twilio(verifier: SignatureVerifier) -> None:
    doubled = [*REPEATED, ("TaskQueueSids", "WQ1")]
    signature = twilio_sign(URL, doubled, TOKEN)
    assert signature == twilio_sign(URL, REPEATED, TOKEN)
    assert verifier.verify_form(URL, doubled, signature)


def test_values_sort_within_a_name_not_across_names(verifier: SignatureVerifier) -> None:
    # Sorting the joined "name+value" strings would put "a-" + "b" before "a" + "z"; Twilio sorts by name first.
    pairs = [("a-", "b"), ("a", "z"), ("a", "c")]
    signature = twilio_sign(URL, pairs, TOKEN)
    assert signed_payload("", pairs) == "acaza-b"
    assert verifier.verify_form(URL, pairs, signature)
    joined_sort = "".join(sorted(name + value for name, value in pairs))
    assert joined_sort != "acaza-b"
    assert not verifier.verify_form(URL, pairs, compute_signature(URL + joined_sort, {}, TOKEN))


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"WorkerName": "Zoë Ångström", "Note": "日本語のメモ", "Emoji": "🎧📞"}, id="unicode-values"),
        pytest.param({"Ünïcode": "name", "x": "y"}, id="unicode-name"),
        pytest.param({"TaskAttributes": "", "Reason": ""}, id="empty-values"),
        pytest.param({"Q": "a=b&c=d+e%20f", "Plus": "+1 (415) 555-0100"}, id="form-syntax-characters"),
        pytest.param({"Multi": "line one\nline two\r\n\ttab"}, id="whitespace"),
    ],
)
def test_awkward_values_verify_and_are_signed(verifier: SignatureVerifier, params: dict[str, str]) -> None:
    signature = twilio_sign(URL, params, TOKEN)
    assert hand_sign(URL, list(params.items()), TOKEN) == signature
    assert verifier.verify_form(URL, params, signature)
    name = next(iter(params))
    assert not verifier.verify_form(URL, {**params, name: params[name] + "x"}, signature)


def test_empty_value_differs_from_absent_param(verifier: SignatureVerifier) -> None:
    signature = twilio_sign(URL, {"EventType": "task.created", "Reason": ""}, TOKEN)
    assert verifier.verify_form(URL, {"EventType": "task.created", "Reason": ""}, signature)
    assert not verifier.verify_form(URL, {"EventType": "task.created"}, signature)


def test_no_params_at_all(verifier: SignatureVerifier) -> None:
    signature = twilio_sign(URL, {}, TOKEN)
    assert verifier.verify_form(URL, {}, signature)
    assert verifier.verify_form(URL, [], signature)


# --- ports ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signed", "seen", "expected"),
    [
        ("https://gw.example.com/events", "https://gw.example.com:443/events", True),
        ("https://gw.example.com:443/events", "https://gw.example.com/events", True),
        ("http://gw.example.com/events", "http://gw.example.com:80/events", True),
        ("http://gw.example.com:80/events", "http://gw.example.com/events", True),
        ("https://gw.example.com/events?a=1&b=2", "https://gw.example.com:443/events?a=1&b=2", True),
        ("https://gw.example.com:443/events?a=1&b=2", "https://gw.example.com/events?a=1&b=2", True),
        ("http://gw.example.com:80/events?x=y", "http://gw.example.com/events?x=y", True),
        ("https://gw.example.com:8443/events", "https://gw.example.com:8443/events", True),
        ("https://gw.example.com/events", "https://gw.example.com:8443/events", True),
        # Only the scheme's default port is added; other ports are never swapped in.
        ("https://gw.example.com:8443/events", "https://gw.example.com/events", False),
        ("https://gw.example.com:443/events", "https://gw.example.com:8443/events", False),
        ("https://gw.example.com:80/events", "https://gw.example.com/events", False),
        ("http://gw.example.com:443/events", "http://gw.example.com/events", False),
        # Same URL, different query: the query is signed.
        ("https://gw.example.com:443/events?a=1", "https://gw.example.com/events?a=2", False),
    ],
)
def test_port_variants(signed: str, seen: str, expected: bool) -> None:
    signature = twilio_sign(signed, PARAMS, TOKEN)
    assert SignatureVerifier([TOKEN]).verify_form(seen, PARAMS, signature) is expected
    # Twilio's own validator reaches the same verdict.
    assert RequestValidator(TOKEN).validate(seen, PARAMS, signature) is expected


def test_hand_made_port_variants_match_candidates() -> None:
    verifier = SignatureVerifier([TOKEN])
    seen = "https://gw.example.com/events?a=1"
    assert verifier.candidate_urls(seen) == [seen, with_default_port(seen)]
    assert verifier.candidate_urls(with_default_port(seen)) == [with_default_port(seen), without_port(seen)]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://h.example/p", ["https://h.example/p", "https://h.example:443/p"]),
        ("http://h.example:80/p?q=1", ["http://h.example:80/p?q=1", "http://h.example/p?q=1"]),
        ("HTTPS://H.example/p", ["HTTPS://H.example/p", "HTTPS://H.example:443/p"]),
        ("https://h.example", ["https://h.example", "https://h.example:443"]),
        ("https://h.example?q=1", ["https://h.example?q=1", "https://h.example:443?q=1"]),
        ("http://[::1]:8080/p", ["http://[::1]:8080/p", "http://[::1]/p"]),
        ("http://[::1]/p", ["http://[::1]/p", "http://[::1]:80/p"]),
        ("https://user:pw@h.example:443/p", ["https://user:pw@h.example:443/p", "https://user:pw@h.example/p"]),
        # A colon in the path or query is not a port; nothing is re-encoded.
        ("https://h.example/a:1/b%2Fc?t=10:30&s=a%20b", ["https://h.example/a:1/b%2Fc?t=10:30&s=a%20b",
                                                         "https://h.example:443/a:1/b%2Fc?t=10:30&s=a%20b"]),
        ("https://h.example:/p", ["https://h.example:/p", "https://h.example/p"]),
    ],
)
def test_candidate_urls(url: str, expected: list[str]) -> None:
    assert SignatureVerifier([TOKEN]).candidate_urls(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/twilio/events", "not an absolute http"),
        ("ftp://h.example/p", "not an absolute http"),
        ("gw.example.com/events", "not an absolute http"),
        ("https:///events", "no host"),
        ("https://user@/events", "no host"),
        ("https://h.example:44a/p", "port is not a number"),
        ("https://h.example:４４３/p", "port is not a number"),
        ("https://[::1/p", "unterminated IPv6"),
        ("https://[::1]x/p", "after IPv6 host"),
    ],
)
def test_candidate_urls_rejects_what_cannot_be_a_signed_url(url: str, message: str) -> None:
    verifier = SignatureVerifier([TOKEN])
    with pytest.raises(ValueError, match=message):
        verifier.candidate_urls(url)
    # The verifiers treat the same input (it comes from the request) as simply not verifying.
    assert verifier.verify_form(url, PARAMS, twilio_sign(url, PARAMS, TOKEN)) is False
    assert verifier.verify_json(url, b"{}", twilio_sign(url, {}, TOKEN)) is False


# --- public_url (behind a proxy / load balancer) --------------------------------------------------------

SEEN = "http://127.0.0.1:8080/twilio/events?source=taskrouter"
PUBLIC = "https://gw.example.com/twilio/events"
SIGNED = "https://gw.example.com/twilio/events?source=taskrouter"


def test_public_url_is_what_gets_verified() -> None:
    signature = twilio_sign(SIGNED, PARAMS, TOKEN)
    assert SignatureVerifier([TOKEN], public_url=PUBLIC).verify_form(SEEN, PARAMS, signature)
    assert not SignatureVerifier([TOKEN]).verify_form(SEEN, PARAMS, signature)


def test_public_url_without_query_and_a_plain_request() -> None:
    signature = twilio_sign(PUBLIC, PARAMS, TOKEN)
    verifier = SignatureVerifier([TOKEN], public_url=PUBLIC)
    assert verifier.verify_form("http://127.0.0.1:8080/twilio/events", PARAMS, signature)
    assert not verifier.verify_form(SEEN, PARAMS, signature)  # the seen query is part of what was signed


def test_public_url_with_and_without_port() -> None:
    signed_with_port = twilio_sign(with_default_port(SIGNED), PARAMS, TOKEN)
    assert SignatureVerifier([TOKEN], public_url=PUBLIC).verify_form(SEEN, PARAMS, signed_with_port)
    signed_without_port = twilio_sign(SIGNED, PARAMS, TOKEN)
    public_with_port = with_default_port(PUBLIC)
    assert SignatureVerifier([TOKEN], public_url=public_with_port).verify_form(SEEN, PARAMS, signed_without_port)


def test_public_url_replaces_the_seen_url() -> None:
    signature_for_seen = twilio_sign(SEEN, PARAMS, TOKEN)
    verifier = SignatureVerifier([TOKEN], public_url=PUBLIC)
    assert not verifier.verify_form(SEEN, PARAMS, signature_for_seen)
    assert verifier.candidate_urls(SEEN) == [SIGNED, with_default_port(SIGNED)]


def test_public_url_with_its_own_query_is_used_as_is() -> None:
    public = "https://gw.example.com/twilio/events?tenant=acme"
    signature = twilio_sign(public, PARAMS, TOKEN)
    verifier = SignatureVerifier([TOKEN], public_url=public)
    assert verifier.candidate_urls(SEEN) == [public, with_default_port(public)]
    assert verifier.verify_form(SEEN, PARAMS, signature)


def test_public_url_accepts_any_seen_url_shape() -> None:
    # Only the seen query matters when a public URL is set, so a path-only URL works too.
    signature = twilio_sign(SIGNED, PARAMS, TOKEN)
    verifier = SignatureVerifier([TOKEN], public_url=PUBLIC)
    assert verifier.verify_form("/twilio/events?source=taskrouter", PARAMS, signature)


# --- JSON bodies (bodySHA256) ---------------------------------------------------------------------------

BODY = b'{"EventType":"task.created","TaskSid":"WT123","Attributes":{"lang":"fr","note":"\xc3\xa9t\xc3\xa9"}}'
JSON_URL = body_url("https://gw.example.com/twilio/events", BODY)


def test_json_body_with_matching_hash_verifies(verifier: SignatureVerifier) -> None:
    signature = twilio_sign(JSON_URL, {}, TOKEN)
    assert RequestValidator(TOKEN).validate(JSON_URL, BODY.decode(), signature)  # Twilio agrees on the input
    assert verifier.verify_json(JSON_URL, BODY, signature)


def test_json_body_changed_fails(verifier: SignatureVerifier) -> None:
    signature = twilio_sign(JSON_URL, {}, TOKEN)
    assert not verifier.verify_json(JSON_URL, BODY.replace(b"fr", b"de"), signature)
    assert not verifier.verify_json(JSON_URL, BODY + b" ", signature)
    assert not verifier.verify_json(JSON_URL, b"", signature)


def test_json_signed_url_with_wrong_hash_fails(verifier: SignatureVerifier) -> None:
    # Correctly signed URL, but it names the hash of another body.
    url = body_url("https://gw.example.com/twilio/events", b'{"other":true}')
    assert not verifier.verify_json(url, BODY, twilio_sign(url, {}, TOKEN))
    upper = JSON_URL.replace(hashlib.sha256(BODY).hexdigest(), hashlib.sha256(BODY).hexdigest().upper())
    assert not verifier.verify_json(upper, BODY, twilio_sign(upper, {}, TOKEN))


def test_json_without_body_hash_fails(verifier: SignatureVerifier) -> None:
    for url in ("https://gw.example.com/twilio/events", "https://gw.example.com/twilio/events?x=1"):
        assert not verifier.verify_json(url, BODY, twilio_sign(url, {}, TOKEN))
    empty = "https://gw.example.com/twilio/events?bodySHA256="
    assert not verifier.verify_json(empty, BODY, twilio_sign(empty, {}, TOKEN))


def test_json_signature_over_url_wrong_fails(verifier: SignatureVerifier) -> None:
    other_url = body_url("https://gw.example.com/twilio/other", BODY)
    assert not verifier.verify_json(JSON_URL, BODY, twilio_sign(other_url, {}, TOKEN))
    assert not verifier.verify_json(JSON_URL, BODY, twilio_sign(JSON_URL, {}, "wrong-token"))
    assert not verifier.verify_json(JSON_URL, BODY, flip(twilio_sign(JSON_URL, {}, TOKEN), 5))
    # Signed as a form with the body's fields as params: not the JSON rule.
    assert not verifier.verify_json(JSON_URL, BODY, twilio_sign(JSON_URL, {"EventType": "task.created"}, TOKEN))


def test_json_ports_tokens_and_public_url() -> None:
    signature = twilio_sign(with_default_port(JSON_URL), {}, SECONDARY)
    assert SignatureVerifier([TOKEN, SECONDARY]).verify_json(JSON_URL, BODY, signature)
    seen = "http://127.0.0.1:8080/twilio/events?bodySHA256=" + hashlib.sha256(BODY).hexdigest()
    public = SignatureVerifier([TOKEN], public_url="https://gw.example.com/twilio/events")
    assert public.verify_json(seen, BODY, twilio_sign(JSON_URL, {}, TOKEN))
    assert not SignatureVerifier([TOKEN]).verify_json(seen, BODY, twilio_sign(JSON_URL, {}, TOKEN))


def test_json_hash_must_come_from_the_signed_url() -> None:
    # The public URL carries its own query, so the seen bodySHA256 is not part of what was signed:
    # trusting it would let anyone swap the body.
    public = "https://gw.example.com/twilio/events?tenant=acme"
    seen = "http://127.0.0.1:8080/twilio/events?bodySHA256=" + hashlib.sha256(BODY).hexdigest()
    verifier = SignatureVerifier([TOKEN], public_url=public)
    assert not verifier.verify_json(seen, BODY, twilio_sign(public, {}, TOKEN))


def test_json_body_accepts_bytearray_and_memoryview(verifier: SignatureVerifier) -> None:
    signature = twilio_sign(JSON_URL, {}, TOKEN)
    assert verifier.verify_json(JSON_URL, bytearray(BODY), signature)
    assert verifier.verify_json(JSON_URL, memoryview(BODY), signature)


# --- missing and malformed input ------------------------------------------------------------------------


@pytest.mark.parametrize("signature", [None, "", "   ", "not base64 at all", "0/KCTR6DLpKmkAf8muzZqo1nDgQ", "é" * 28])
def test_missing_or_malformed_signature_is_false(verifier: SignatureVerifier, signature: str | None) -> None:
    assert verifier.verify_form(URL, PARAMS, signature) is False
    assert verifier.verify_json(JSON_URL, BODY, signature) is False


def test_signature_with_surrounding_whitespace_is_not_accepted(verifier: SignatureVerifier) -> None:
    signature = twilio_sign(URL, PARAMS, TOKEN)
    assert not verifier.verify_form(URL, PARAMS, f" {signature}")
    assert not verifier.verify_form(URL, PARAMS, f"{signature}\n")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("EventType=task.created", "not a string"),
        ({"Retries": 3}, "'Retries': value must be a str, got int"),
        ({"Sids": ["WQ1", "WQ2"]}, "'Sids': value must be a str, got list"),
        ([("EventType", None)], "'EventType': value must be a str, got NoneType"),
        ([(1, "x")], "name must be a str, got int"),
        ([("a", "b", "c")], r"\(name, value\) pairs, got tuple"),
        (["ab"], r"\(name, value\) pairs, got str"),
    ],
)
def test_bad_params_are_a_caller_error(verifier: SignatureVerifier, params: object, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        verifier.verify_form(URL, params, twilio_sign(URL, {}, TOKEN))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=message):
        compute_signature(URL, params, TOKEN)  # type: ignore[arg-type]


def test_bad_types_for_url_and_body_are_caller_errors(verifier: SignatureVerifier) -> None:
    with pytest.raises(TypeError, match="url must be a str, got bytes"):
        verifier.verify_form(URL.encode(), PARAMS, "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="body must be bytes, got str"):
        verifier.verify_json(JSON_URL, BODY.decode(), "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="url must be a str, got NoneType"):
        compute_signature(None, PARAMS, TOKEN)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tokens", "error", "message"),
    [
        (TOKEN, TypeError, "not a single string"),
        (TOKEN.encode(), TypeError, "not a single string"),
        ([], ValueError, "at least one token"),
        ([TOKEN, ""], ValueError, "non-empty"),
        ([TOKEN, TOKEN.encode()], TypeError, "must be a str, got bytes"),
        ([None], TypeError, "must be a str, got NoneType"),
    ],
)
def test_bad_tokens_fail_at_construction_without_showing_them(
    tokens: Sequence[str], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message) as caught:
        SignatureVerifier(tokens)
    assert TOKEN not in str(caught.value)


def test_compute_signature_rejects_bad_tokens() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        compute_signature(URL, PARAMS, "")
    with pytest.raises(TypeError, match="got bytes"):
        compute_signature(URL, PARAMS, TOKEN.encode())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("public_url", "error", "message"),
    [
        ("gw.example.com/events", ValueError, "not an absolute http"),
        ("/events", ValueError, "not an absolute http"),
        ("wss://gw.example.com/events", ValueError, "not an absolute http"),
        ("https:///events", ValueError, "no host"),
        ("https://gw.example.com:https/events", ValueError, "port is not a number"),
        ("https://gw.example.com/events#frag", ValueError, "fragment"),
        (b"https://gw.example.com/events", TypeError, "public_url must be a str"),
    ],
)
def test_bad_public_url_fails_at_construction(public_url: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        SignatureVerifier([TOKEN], public_url=public_url)  # type: ignore[arg-type]


def test_repr_hides_tokens() -> None:
    verifier = SignatureVerifier([TOKEN, SECONDARY], public_url=PUBLIC)
    for text in (repr(verifier), str(verifier), f"{verifier!r:>10}"):
        assert TOKEN not in text and SECONDARY not in text
        assert "2 redacted" in text and PUBLIC in text
    assert verifier.public_url == PUBLIC
    with pytest.raises(AttributeError):
        verifier.__dict__  # noqa: B018 - slots: no instance dict to dump the tokens from


def test_emulator_callbacks_verify() -> None:
    # The project's emulator signs its TaskRouter event callbacks with its own code; the gateway must accept them.
    from taskrouter_emulator.signing import compute_signature as emulator_sign

    url = "http://127.0.0.1:43210/twilio/events"
    signature = emulator_sign(url, PARAMS, TOKEN)
    assert SignatureVerifier([TOKEN]).verify_form(url, PARAMS, signature)
    assert not SignatureVerifier([SECONDARY]).verify_form(url, PARAMS, signature)


# --- properties -----------------------------------------------------------------------------------------

_hosts = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?(\.[a-z]{2,6}){0,2}", fullmatch=True)
_text = st.text(max_size=12)


@st.composite
def _urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "https"]))
    host = draw(_hosts)
    port = draw(st.none() | st.integers(min_value=1, max_value=65535))
    path = "/".join(quote(segment) for segment in draw(st.lists(_text, max_size=3)))
    query = urlencode(draw(st.lists(st.tuples(_text, _text), max_size=3)))
    netloc = host if port is None else f"{host}:{port}"
    return f"{scheme}://{netloc}/{path}" + (f"?{query}" if query else "")


@dataclass
class _Case:
    seen: str
    signed: str
    pairs: Pairs


@st.composite
def _cases(draw: st.DrawFn) -> _Case:
    seen = draw(_urls())
    variants = [seen, with_default_port(seen) if urlsplit(seen).port is None else without_port(seen)]
    return _Case(seen=seen, signed=draw(st.sampled_from(variants)), pairs=draw(st.lists(st.tuples(_text, _text))))


@settings(max_examples=150, deadline=None)
@given(case=_cases(), token=st.text(min_size=1, max_size=40), index=st.integers(min_value=0, max_value=27))
def test_property_twilio_signed_requests_verify_and_one_flip_fails(case: _Case, token: str, index: int) -> None:
    signature = twilio_sign(case.signed, case.pairs, token)
    verifier = SignatureVerifier([token])
    assert verifier.verify_form(case.seen, case.pairs, signature)
    assert verifier.verify_form(case.seen, list(reversed(case.pairs)), signature)
    assert not verifier.verify_form(case.seen, case.pairs, flip(signature, index))


@settings(max_examples=100, deadline=None)
@given(case=_cases(), body=st.binary(max_size=200), other=st.binary(max_size=200))
def test_property_json_body_binding(case: _Case, body: bytes, other: bytes) -> None:
    signed = body_url(case.signed, body)
    seen = body_url(case.seen, body)
    signature = twilio_sign(signed, {}, TOKEN)
    verifier = SignatureVerifier([TOKEN])
    assert verifier.verify_json(seen, body, signature)
    assert verifier.verify_json(seen, other, signature) is (other == body)


# --- through a real aiohttp server ----------------------------------------------------------------------


@dataclass
class _Webhook:
    base_url: str
    http: aiohttp.ClientSession
    verdicts: list[bool]


def _webhook_app(verifier: SignatureVerifier, verdicts: list[bool]) -> web.Application:
    async def form(request: web.Request) -> web.Response:
        params = await request.post()  # values are str here: no file uploads in a Twilio callback
        ok = verifier.verify_form(str(request.url), params, request.headers.get(SIGNATURE_HEADER))
        verdicts.append(ok)
        return web.Response(status=204 if ok else 403)

    async def json_body(request: web.Request) -> web.Response:
        ok = verifier.verify_json(str(request.url), await request.read(), request.headers.get(SIGNATURE_HEADER))
        verdicts.append(ok)
        return web.Response(status=204 if ok else 403)

    app = web.Application()
    app.router.add_post("/twilio/events", form)
    app.router.add_post("/twilio/json", json_body)
    return app


async def _serve(verifier: SignatureVerifier) -> AsyncIterator[_Webhook]:
    verdicts: list[bool] = []
    runner = web.AppRunner(_webhook_app(verifier, verdicts))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as http:
            yield _Webhook(base_url=f"http://127.0.0.1:{port}", http=http, verdicts=verdicts)
    finally:
        await runner.cleanup()


@pytest.fixture
async def webhook() -> AsyncIterator[_Webhook]:
    async for served in _serve(SignatureVerifier([TOKEN, SECONDARY])):
        yield served


@pytest.fixture
async def proxied_webhook() -> AsyncIterator[_Webhook]:
    async for served in _serve(SignatureVerifier([TOKEN], public_url="https://gw.example.com/twilio/events")):
        yield served


FORM: Pairs = [
    ("EventType", "worker.activity.update"),
    ("WorkerName", "Zoë 日本"),
    ("TaskQueueSids", "WQ2"),
    ("TaskQueueSids", "WQ1"),
    ("Reason", ""),
    ("Query", "a=b&c=d+e%20f"),
]


async def test_server_accepts_signed_form_with_repeated_keys_and_unicode(webhook: _Webhook) -> None:
    url = f"{webhook.base_url}/twilio/events?source=taskrouter"
    for token in (TOKEN, SECONDARY):
        headers = {SIGNATURE_HEADER: twilio_sign(url, FORM, token)}
        async with webhook.http.post(url, data=FORM, headers=headers) as resp:
            assert resp.status == 204
    assert webhook.verdicts == [True, True]


async def test_server_rejects_tampered_and_unsigned_forms(webhook: _Webhook) -> None:
    url = f"{webhook.base_url}/twilio/events"
    signature = twilio_sign(url, FORM, TOKEN)
    tampered = [(name, value + "!" if name == "WorkerName" else value) for name, value in FORM]
    for data, headers in ((tampered, {SIGNATURE_HEADER: signature}), (FORM, {}), (FORM, {SIGNATURE_HEADER: ""})):
        async with webhook.http.post(url, data=data, headers=headers) as resp:
            assert resp.status == 403
    assert webhook.verdicts == [False, False, False]


async def test_server_behind_proxy_verifies_against_public_url(proxied_webhook: _Webhook) -> None:
    signature = twilio_sign("https://gw.example.com/twilio/events?source=taskrouter", FORM, TOKEN)
    url = f"{proxied_webhook.base_url}/twilio/events?source=taskrouter"
    async with proxied_webhook.http.post(url, data=FORM, headers={SIGNATURE_HEADER: signature}) as resp:
        assert resp.status == 204
    signature_for_seen_url = twilio_sign(url, FORM, TOKEN)
    async with proxied_webhook.http.post(url, data=FORM, headers={SIGNATURE_HEADER: signature_for_seen_url}) as resp:
        assert resp.status == 403


async def test_server_json_body(webhook: _Webhook) -> None:
    url = body_url(f"{webhook.base_url}/twilio/json", BODY)
    headers = {SIGNATURE_HEADER: twilio_sign(url, {}, TOKEN), "Content-Type": "application/json"}
    async with webhook.http.post(url, data=BODY, headers=headers) as resp:
        assert resp.status == 204
    async with webhook.http.post(url, data=BODY.replace(b"WT123", b"WT999"), headers=headers) as resp:
        assert resp.status == 403
    assert webhook.verdicts == [True, False]


def test_candidate_urls_are_cached_but_the_cache_stays_bounded():
    from taskrouter_gateway.ingest import signature as signature_module

    verifier = SignatureVerifier(["token"])
    params = {"Sid": "EV1", "EventType": "worker.created"}
    for n in range(signature_module._CANDIDATE_CACHE + 50):
        url = f"https://gw.example.com/events?n={n}"
        assert verifier.verify_form(url, params, compute_signature(url, params, "token"))
        assert not verifier.verify_form(url, params, compute_signature(url + "x", params, "token"))
    assert len(verifier._candidates) == signature_module._CANDIDATE_CACHE
    # A cached URL still checks both port forms.
    url = "https://gw.example.com/events?n=1"
    assert verifier.verify_form(url, params, compute_signature("https://gw.example.com:443/events?n=1", params, "token"))
