"""The JetStream message layout: any event survives encode/decode, and its subject is always a valid one."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings, strategies as st

from taskrouter_gateway.eventlog.jetstream import codec
from taskrouter_gateway.eventlog.jetstream.log import redact_url
from taskrouter_gateway.eventlog.log import NewEvent

_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
text = st.text(max_size=40)


@settings(max_examples=80, deadline=None)
@given(sid=text.filter(bool), ws=text.filter(bool), event_type=text.filter(bool), resource=text,
       date=st.integers(0, 2**63 - 1), payload=st.binary(max_size=200))
def test_every_event_round_trips_and_gets_a_valid_subject(sid, ws, event_type, resource, date, payload) -> None:
    event = NewEvent(sid, ws, event_type, resource, date, payload)
    back = codec.decode(codec.encode(event), 7, 123)
    assert (back.seq, back.sid, back.workspace_sid, back.event_type, back.resource_sid, back.event_date_ms,
            back.received_ms, back.payload) == (7, sid, ws, event_type, resource, date, 123, payload)
    tokens = codec.subject_for("taskrouter.events", event).split(".")
    assert tokens[:2] == ["taskrouter", "events"] and len(tokens) >= 4
    assert all(_TOKEN.fullmatch(token) for token in tokens)
    assert codec.workspace_filter("taskrouter.events", ws) == ".".join(tokens[:3]) + ".>"


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=30))
def test_bytes_that_are_not_an_event_are_refused_clearly(data) -> None:
    try:
        codec.decode(data, 3, 0)
    except codec.UndecodableMessage as exc:
        assert "stream message 3" in str(exc)


def test_credentials_in_a_nats_url_never_reach_a_message() -> None:
    assert redact_url("nats://gw:s3cret@nats-1:4222") == "nats://***@nats-1:4222"
    assert redact_url("tls://token@nats-1:4222") == "tls://***@nats-1:4222"
    assert redact_url("nats://nats-1:4222") == "nats://nats-1:4222"


# A message as written by this layout (version 1) on any stream already in use: it must keep decoding.
LAYOUT_1 = (b"\x01" + b"\x00\x04EV01" + b"\x00\x04WS01" + b"\x00\x0eworker.created" + b"\x00\x04WK01"
            + (1_700_000_000_123).to_bytes(8, "big") + b"Rpayload")


def test_a_message_written_by_layout_1_decodes_field_by_field_and_is_what_encode_writes() -> None:
    stored = codec.decode(LAYOUT_1, seq=7, received_ms=99)
    assert (stored.seq, stored.sid, stored.workspace_sid, stored.event_type, stored.resource_sid) == (
        7, "EV01", "WS01", "worker.created", "WK01")
    assert (stored.event_date_ms, stored.received_ms, stored.payload) == (1_700_000_000_123, 99, b"Rpayload")
    event = NewEvent(sid="EV01", workspace_sid="WS01", event_type="worker.created", resource_sid="WK01",
                     event_date_ms=1_700_000_000_123, payload=b"Rpayload")
    assert codec.encode(event) == LAYOUT_1


def test_another_layout_version_is_refused_naming_it() -> None:
    with pytest.raises(codec.UndecodableMessage, match="stream message 3: unknown layout version 2$"):
        codec.decode(b"\x02" + LAYOUT_1[1:], seq=3, received_ms=0)


@pytest.mark.parametrize("size,fits", [(0xFFFF - 1, True), (0xFFFF, True), (0xFFFF + 1, False)])
def test_a_field_may_be_up_to_65535_bytes(size: int, fits: bool) -> None:
    event = NewEvent(sid="EV01", workspace_sid="WS01", event_type="worker.created", resource_sid="R" * size,
                     event_date_ms=1, payload=b"")
    if fits:
        assert codec.decode(codec.encode(event), seq=1, received_ms=0).resource_sid == "R" * size
    else:
        with pytest.raises(ValueError, match="longer than 65535 bytes"):
            codec.encode(event)


@pytest.mark.parametrize("text,expected", [("WS01", "WS01"), ("a.b c*>", "a_b_c__"), ("", "_"), ("ok-_", "ok-_")])
def test_subject_tokens_keep_safe_text_and_are_never_empty(text: str, expected: str) -> None:
    assert codec.token(text) == expected
