"""errors.py at its edges, where mutation testing found no test: caller refusals (auth), the ends of each HTTP
status range, the wrong-state wording on other statuses, and the exact size caps."""

from __future__ import annotations

import re

import grpc
import pytest
from structlog.testing import capture_logs

from taskrouter_gateway import errors
from taskrouter_gateway.auth import PermissionDenied, Unauthenticated
from taskrouter_gateway.upstream.errors import UpstreamBadResponse, UpstreamError
from test_errors_table import rich, unpack

C = grpc.StatusCode


def _upstream(status: int, message: str = "twilio says no", code: int | None = None,
              more_info: str | None = None) -> UpstreamError:
    return UpstreamError(status, code, message, more_info, None, "POST", "/v1/Workspaces/WS1/Tasks/WT1")


def test_an_unknown_caller_is_unauthenticated_without_naming_a_scope():
    status = errors.status_for(Unauthenticated("no credential"))
    assert (status.code, status.details) == (C.UNAUTHENTICATED, "no credential")
    info = unpack(status)["ErrorInfo"]
    assert info.reason == "CALLER_UNAUTHENTICATED" and dict(info.metadata) == {}


def test_a_caller_without_the_scope_is_told_which_scope():
    exc = PermissionDenied("needs tasks:write", identity="ci-bot", scope="tasks:write")
    status = errors.status_for(exc)
    assert (status.code, status.details) == (C.PERMISSION_DENIED, "needs tasks:write")
    info = unpack(status)["ErrorInfo"]
    assert info.reason == "CALLER_MISSING_SCOPE"
    assert dict(info.metadata) == {"scope": "tasks:write", "caller": "ci-bot"}


def test_a_caller_outside_its_workspaces_is_told_which_workspace():
    exc = PermissionDenied("not this workspace", identity="ci-bot", scope="tasks:read", workspace_sid="WS" + "0" * 32)
    status = errors.access_denied(exc)
    assert status.code == C.PERMISSION_DENIED
    info = unpack(status)["ErrorInfo"]
    assert info.reason == "CALLER_WORKSPACE_NOT_ALLOWED"
    assert dict(info.metadata) == {"scope": "tasks:read", "caller": "ci-bot", "workspace_sid": "WS" + "0" * 32}


@pytest.mark.parametrize(("http", "code", "reason"), [
    (399, C.INTERNAL, "UPSTREAM_UNEXPECTED_STATUS"),
    (402, C.FAILED_PRECONDITION, "TWILIO_REJECTED"),
    (499, C.FAILED_PRECONDITION, "TWILIO_REJECTED"),
    (599, C.UNAVAILABLE, "UPSTREAM_UNAVAILABLE"),
    (600, C.INTERNAL, "UPSTREAM_UNEXPECTED_STATUS"),
    (200, C.INTERNAL, "UPSTREAM_UNEXPECTED_STATUS"),
])
def test_each_end_of_the_status_ranges(http, code, reason):
    status = errors.status_for(_upstream(http))
    assert status.code == code
    assert unpack(status)["ErrorInfo"].reason == reason


@pytest.mark.parametrize("phrase", errors.WRONG_STATE_PHRASES)
def test_wrong_state_wording_matters_on_a_400_only(phrase):
    text = f"Reservation WR1 {phrase} pending"
    on_400 = errors.status_for(_upstream(400, text))
    assert (on_400.code, unpack(on_400)["ErrorInfo"].reason) == (C.FAILED_PRECONDITION, "TWILIO_WRONG_STATE")
    on_409 = errors.status_for(_upstream(409, text))
    assert (on_409.code, unpack(on_409)["ErrorInfo"].reason) == (C.ABORTED, "TWILIO_CONFLICT")
    plain = errors.status_for(_upstream(400, "Invalid FriendlyName"))
    assert unpack(plain)["ErrorInfo"].reason == "TWILIO_BAD_REQUEST"


def test_twilio_code_and_more_info_travel_only_when_sent():
    with_both = unpack(errors.status_for(_upstream(404, code=20404, more_info="https://www.twilio.com/docs/errors/20404")))
    assert dict(with_both["ErrorInfo"].metadata) == {
        "http_status": "404", "twilio_code": "20404", "more_info": "https://www.twilio.com/docs/errors/20404"}
    with_zero_code = unpack(errors.status_for(_upstream(404, code=0, more_info="")))
    assert dict(with_zero_code["ErrorInfo"].metadata) == {"http_status": "404", "twilio_code": "0"}


def test_a_bad_response_names_its_http_status():
    status = errors.status_for(UpstreamBadResponse("not json", status=203, method="GET", path="/v1/Workspaces"))
    assert status.code == C.INTERNAL
    assert dict(unpack(status)["ErrorInfo"].metadata) == {"http_status": "203"}


@pytest.mark.parametrize(("seconds", "whole", "nanos"), [(-5.0, 0, 0), (0.0, 0, 0), (1.5, 1, 500_000_000),
                                                          (2.000000001, 2, 1)])
def test_retry_after_is_never_negative(seconds, whole, nanos):
    exc = UpstreamError(429, None, "slow down", None, seconds, "GET", "/v1/Workspaces")
    delay = unpack(errors.status_for(exc))["RetryInfo"].retry_delay
    assert (delay.seconds, delay.nanos) == (whole, nanos)


def test_clip_at_exactly_the_limit_keeps_the_text_and_one_byte_over_cuts_it():
    assert errors.clip("a" * 10, 10) == "a" * 10
    cut = errors.clip("a" * 11, 10)
    assert cut == "a" * 7 + "…" and len(cut.encode()) == 10
    # A character of several bytes is never split.
    assert errors.clip("é" * 6, 10) == "é" * 3 + "…"


def test_exactly_max_violations_are_all_listed_and_one_more_is_summed_up():
    at_cap = [(f"field_{n}", f"bad {n}") for n in range(errors.MAX_VIOLATIONS)]
    listed = unpack(errors.invalid_argument(at_cap))["BadRequest"].field_violations
    assert [(v.field, v.description) for v in listed] == at_cap
    over = at_cap + [("field_x", "bad x"), ("field_y", "bad y")]
    listed = unpack(errors.invalid_argument(over))["BadRequest"].field_violations
    assert len(listed) == errors.MAX_VIOLATIONS
    # The last one listed keeps its own field and description and says how many were left out with it.
    assert (listed[-1].field, listed[-1].description) == ("field_7", "bad 7 (and 3 more problems)")


def test_the_caps_are_the_documented_byte_counts():
    # Literal numbers on purpose: the caps are what keeps every status under ~4.5 KiB of trailers.
    status = errors.build_status(C.NOT_FOUND, "m" * 600, "X", {"k": "v" * 300})
    assert len(status.details.encode()) == 512
    assert len(unpack(status)["ErrorInfo"].metadata["k"].encode()) == 256
    [violation] = unpack(errors.invalid_argument([("f" * 100, "d" * 200)]))["BadRequest"].field_violations
    assert (len(violation.field.encode()), len(violation.description.encode())) == (64, 120)
    assert errors.MAX_VIOLATIONS == 8


def test_a_field_with_several_problems_is_named_once_in_the_metadata():
    status = errors.invalid_argument([("sid", "empty"), ("sid", "not a sid"), ("name", "too long")])
    assert unpack(status)["ErrorInfo"].metadata["fields"] == "sid,name"
    assert status.details == "invalid request: sid: empty; sid: not a sid; name: too long"


@pytest.mark.parametrize("violations", [[("a", "b", "c")], ["ab"], [("a", "b"), "cd"]])
def test_malformed_violations_are_an_internal_error_not_a_bad_request(violations):
    exc = ValueError("odd")
    exc.violations = violations  # type: ignore[attr-defined]
    with capture_logs() as logs:
        status = errors.status_for(exc)
    assert status.code == C.INTERNAL
    [entry] = logs
    assert entry["event"] == "unexpected error" and entry["error_type"] == "ValueError"
    error_id = unpack(status)["ErrorInfo"].metadata["error_id"]
    assert entry["error_id"] == error_id and status.details == f"internal error (id {error_id})"
    assert re.fullmatch("[0-9a-f]{16}", error_id)  # 64 random bits: unique enough to find the log line


def test_an_empty_violations_list_is_internal_too():
    exc = ValueError("odd")
    exc.violations = []  # type: ignore[attr-defined]
    assert errors.status_for(exc).code == C.INTERNAL


def test_the_status_message_is_the_rich_status_message():
    status = errors.build_status(C.NOT_FOUND, "gone", "X")
    assert rich(status).message == "gone"
