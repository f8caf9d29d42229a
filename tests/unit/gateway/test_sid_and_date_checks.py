"""One SID rule and one Twilio-date parser, shared by request checks and callback translation."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from google.protobuf import timestamp_pb2

from taskrouter_gateway.translate.events import MalformedCallback, callback_envelope
from taskrouter_gateway.translate.values import parse_date, set_timestamp
from taskrouter_gateway.validation import Checker, InvalidArgument, is_sid

WS = "WS" + "a" * 32


@pytest.mark.parametrize("value", [WS + "\n", "ws" + "a" * 32, "WS" + "a" * 31, "WS" + "g" * 32, " " + WS, ""])
def test_requests_refuse_what_is_not_a_sid_naming_the_field(value):
    check = Checker()
    check.sid("workspace_sid", value, "WS", required=True)
    with pytest.raises(InvalidArgument) as raised:
        check.done()
    assert raised.value.violations[0][0] == "workspace_sid"


def test_callbacks_and_requests_agree_on_a_sid():
    for value in (WS, WS + "\n", "ws" + "a" * 32, "WS" + "A" * 32):
        check = Checker()
        check.sid("workspace_sid", value, "WS")
        try:
            check.done()
            request_ok = True
        except InvalidArgument:
            request_ok = False
        assert is_sid(value, "WS") is request_ok, value


def test_a_callback_with_a_lower_case_workspace_sid_is_malformed():
    params = {"EventType": "worker.created", "AccountSid": "AC" + "1" * 32, "WorkspaceSid": "ws" + "a" * 32,
              "Sid": "EV" + "2" * 32, "Timestamp": "1700000000"}
    with pytest.raises(MalformedCallback):
        callback_envelope(params, received_ms=1_700_000_000_000)


@pytest.mark.parametrize(("text", "expected"), [
    ("2017-05-30T23:19:38Z", datetime(2017, 5, 30, 23, 19, 38, tzinfo=timezone.utc)),
    ("2017-05-30T23:19:38", datetime(2017, 5, 30, 23, 19, 38, tzinfo=timezone.utc)),
    ("Tue, 30 May 2017 23:19:38 +0000", datetime(2017, 5, 30, 23, 19, 38, tzinfo=timezone.utc)),
])
def test_twilio_dates_parse_in_either_format(text, expected):
    assert parse_date(text) == expected
    stamp = timestamp_pb2.Timestamp()
    set_timestamp(stamp, text)
    assert stamp.seconds == int(expected.timestamp())


@pytest.mark.parametrize("text", ["yesterday", "2017-13-40", 17, None, ""])
def test_anything_else_is_no_date(text):
    assert parse_date(text) is None


def test_a_resource_date_that_is_no_date_is_an_error_not_a_silent_zero():
    with pytest.raises(ValueError, match="not a date"):
        set_timestamp(timestamp_pb2.Timestamp(), "yesterday")
