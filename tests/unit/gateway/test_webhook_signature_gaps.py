"""X-Twilio-Signature edges mutation testing found untested: which bodySHA256 counts when the URL
has several, a fragment after the query, and an IPv6 port that is not a number. Signatures come from Twilio's
own RequestValidator, as in test_webhook_signature.py."""

from __future__ import annotations

import hashlib

import pytest
from twilio.request_validator import RequestValidator

from taskrouter_gateway.ingest.signature import SignatureVerifier

TOKEN = "primary-auth-token-5f1c9e"
BASE = "https://gw.example.com/twilio/events"
BODY = b'{"EventType":"task.created"}'
HASH = hashlib.sha256(BODY).hexdigest()
OTHER = hashlib.sha256(b"{}").hexdigest()


def _sign(url: str) -> str:
    return RequestValidator(TOKEN).compute_signature(url, {})


@pytest.mark.parametrize(("query", "valid"), [
    (f"bodySHA256={HASH}", True),
    (f"bodySHA256={HASH}&bodySHA256={OTHER}", True),  # the first one counts
    (f"bodySHA256={OTHER}&bodySHA256={HASH}", False),
    (f"bodySHA256=&bodySHA256={HASH}", False),  # a blank first value is still the first value
    ("bodySHA256=", False),
])
def test_the_first_body_hash_in_the_signed_url_is_the_one_checked(query, valid):
    url = f"{BASE}?{query}"
    assert SignatureVerifier([TOKEN]).verify_json(url, BODY, _sign(url)) is valid


def test_a_fragment_is_not_part_of_the_query_that_carries_the_body_hash():
    url = f"{BASE}?bodySHA256={HASH}#part"
    assert SignatureVerifier([TOKEN]).verify_json(url, BODY, _sign(url)) is True
    # The fragment is never read as the query, even when it looks like one.
    tricky = f"{BASE}?x=1#bodySHA256={HASH}"
    assert SignatureVerifier([TOKEN]).verify_json(tricky, BODY, _sign(tricky)) is False


def test_the_public_urls_query_comes_from_the_seen_url_without_its_fragment():
    verifier = SignatureVerifier([TOKEN], public_url=BASE)
    seen = f"http://127.0.0.1:8080/events?bodySHA256={HASH}#frag"
    assert verifier.candidate_urls(seen)[0] == f"{BASE}?bodySHA256={HASH}"


@pytest.mark.parametrize("port", ["x80", ":80", "8x"])
def test_an_ipv6_hosts_port_must_be_all_digits(port):
    url = f"http://[::1]:{port}/events"
    with pytest.raises(ValueError, match="port is not a number"):
        SignatureVerifier([TOKEN]).candidate_urls(url)
