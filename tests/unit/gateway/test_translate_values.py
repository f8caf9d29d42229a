"""The hand-rolled fast paths in translate/values.py give exactly what protobuf's own helpers give."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from google.protobuf import struct_pb2, timestamp_pb2
from hypothesis import given, strategies as st

from taskrouter_gateway.translate.values import fill_struct, set_timestamp

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=6), json_values, max_size=6))
def test_fill_struct_matches_struct_update(data):
    ours, theirs = struct_pb2.Struct(), struct_pb2.Struct()
    fill_struct(ours, data)
    theirs.update(data)
    assert ours.SerializeToString(deterministic=True) == theirs.SerializeToString(deterministic=True)


def test_fill_struct_keeps_empty_containers():
    ours, theirs = struct_pb2.Struct(), struct_pb2.Struct()
    data = {"a": {}, "b": [], "c": [{}], "d": True, "e": 3}
    fill_struct(ours, data)
    theirs.update(data)
    assert ours == theirs and ours["a"] == struct_pb2.Struct() and list(ours["b"]) == []


@pytest.mark.parametrize(
    "text",
    [
        "2017-05-30T23:19:38Z",
        "2017-05-30T23:19:38.123456Z",
        "2017-05-30T23:19:38+02:00",
        "2017-05-30T23:19:38",  # naive: UTC, as FromDatetime takes it
        "1969-12-31T23:59:59.5Z",  # before the epoch
        "Tue, 11 Aug 2020 17:44:08 +0000",  # RFC 2822, the 2010 API
    ],
)
def test_set_timestamp_matches_from_datetime(text):
    ours = timestamp_pb2.Timestamp()
    set_timestamp(ours, text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        from email.utils import parsedate_to_datetime

        moment = parsedate_to_datetime(text)
    theirs = timestamp_pb2.Timestamp()
    theirs.FromDatetime(moment)
    assert (ours.seconds, ours.nanos) == (theirs.seconds, theirs.nanos)


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1),
                    timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=-7)), None])))
def test_set_timestamp_matches_from_datetime_everywhere(moment):
    ours, theirs = timestamp_pb2.Timestamp(), timestamp_pb2.Timestamp()
    set_timestamp(ours, moment.isoformat())
    theirs.FromDatetime(moment)
    assert (ours.seconds, ours.nanos) == (theirs.seconds, theirs.nanos)


def test_empty_values_leave_the_target_unset():
    ts, struct = timestamp_pb2.Timestamp(), struct_pb2.Struct()
    set_timestamp(ts, "")
    set_timestamp(ts, None)
    fill_struct(struct, {})
    assert ts == timestamp_pb2.Timestamp() and struct == struct_pb2.Struct()
