"""events.records: what the log stores for an event, and the Event it reads back as."""

from __future__ import annotations

import pytest

from taskrouter.gateway.v1 import event_pb2
from taskrouter_gateway.eventlog import records
from taskrouter_gateway.eventlog.log import StoredEvent
from taskrouter_gateway.translate.events import callback_envelope, event_from_callback, event_from_rest

WS = "WS" + "a" * 32
EV = "EV" + "b" * 32
WK = "WK" + "c" * 32
CALLBACK = {
    "EventType": "worker.activity.update", "Sid": EV, "WorkspaceSid": WS, "AccountSid": "AC" + "d" * 32,
    "ResourceType": "Worker", "ResourceSid": WK, "WorkerSid": WK, "WorkerName": "Alice",
    "WorkerAttributes": '{"skills":["en"],"level":3}', "WorkerActivityName": "Idle", "TimestampMs": "1700000000123",
    "EventDescription": "Worker Alice updated to Idle Activity",
}


def stored(new, seq: int = 7, received_ms: int = 1) -> StoredEvent:
    return StoredEvent(seq, new.sid, new.workspace_sid, new.event_type, new.resource_sid, new.event_date_ms,
                       received_ms, new.payload)


def test_a_stored_callback_reads_back_as_the_event_built_at_once():
    envelope = callback_envelope(CALLBACK, received_ms=5)
    new = records.from_callback(envelope)
    assert (new.sid, new.workspace_sid, new.event_type, new.resource_sid, new.event_date_ms) == (
        EV, WS, "worker.activity.update", WK, 1_700_000_000_123)
    assert new.payload.startswith(records.CALLBACK)
    base = "http://127.0.0.1:8181"
    assert records.to_event(stored(new), base_url=base) == event_from_callback(CALLBACK, received_ms=5, base_url=base)


def test_a_callback_without_a_timestamp_keeps_its_time_of_receipt():
    params = {k: v for k, v in CALLBACK.items() if k != "TimestampMs"}
    new = records.from_callback(callback_envelope(params, received_ms=1_650_000_000_000))
    assert records.to_event(stored(new, received_ms=1_650_000_009_999)).event_date_ms == 1_650_000_000_000


def test_repeated_parameters_are_stored_as_validated_last_value_wins():
    pairs = [*CALLBACK.items(), ("WorkerName", "Bob")]
    event = records.to_event(stored(records.from_callback(callback_envelope(pairs, received_ms=1))))
    assert event.worker.worker_name == "Bob" and event.raw_parameters["WorkerName"] == "Bob"


def test_a_stored_rest_event_reads_back_as_event_from_rest():
    item = {"sid": EV, "workspace_sid": WS, "event_type": "worker.created", "resource_sid": WK,
            "event_date": "2023-11-14T22:13:20Z", "event_date_ms": 1_700_000_000_000,
            "event_data": {"worker_sid": WK, "worker_name": "Alice"}, "description": "created"}
    event = event_from_rest(item)
    new = records.from_rest(item, event)
    assert new.payload.startswith(records.REST) and new.event_date_ms == 1_700_000_000_000
    assert records.to_event(stored(new)) == event


@pytest.mark.parametrize(
    "payload,message",
    [
        (b"Xnot a tag we know", "not JSON"),
        (b"X{}", "unknown record tag b'X'"),
        (b"C[1, 2]", "unknown record tag b'C'"),
        (b"C{broken", "not JSON"),
        (b"", "not JSON"),
        (event_pb2.Event(sid=EV).SerializeToString(), "payload is not JSON"),  # a schema-1 payload
    ],
)
def test_payloads_this_build_cannot_read_are_refused_clearly(payload, message):
    row = StoredEvent(3, EV, WS, "worker.created", "", 1, 1, payload)
    with pytest.raises(records.UnreadableRecord, match="event seq 3") as caught:
        records.to_event(row)
    assert message in str(caught.value)
