"""The JetStream message layout: any event survives encode/decode, and its subject is always a valid one."""

from __future__ import annotations

import re

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
