"""errors.py: every row of the table, the ErrorInfo/RetryInfo/BadRequest details, and bad input."""

from __future__ import annotations

from unittest.mock import ANY
import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from taskrouter_gateway import errors
from taskrouter_gateway.upstream.errors import (
    UnsafePath,
    UpstreamBadResponse,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamTimeout,
)
from taskrouter_gateway.upstream.paging import InvalidPageToken
from taskrouter_gateway.validation import InvalidArgument

C = grpc.StatusCode


def rich(status: grpc.Status) -> status_pb2.Status:
    (key, value), = status.trailing_metadata
    assert key == "grpc-status-details-bin"
    parsed = status_pb2.Status.FromString(value)
    assert parsed.code == status.code.value[0] and parsed.message == status.details
    return parsed


def unpack(status: grpc.Status) -> dict[str, object]:
    found: dict[str, list[object]] = {}
    for detail in rich(status).details:
        for cls in (error_details_pb2.ErrorInfo, error_details_pb2.RetryInfo, error_details_pb2.BadRequest):
            if detail.Is(cls.DESCRIPTOR):
                msg = cls()
                detail.Unpack(msg)
                found.setdefault(cls.__name__, []).append(msg)
                break
        else:
            raise AssertionError(f"unexpected detail {detail.type_url}")
    assert len(found["ErrorInfo"]) == 1, "exactly one ErrorInfo"
    return {name: msgs[0] for name, msgs in found.items()}


def twilio(status: int, code: int | None = 20000 + 1, retry_after: float | None = None) -> UpstreamError:
    more = f"https://www.twilio.com/docs/errors/{code}" if code else None
    return UpstreamError(status, code, f"twilio says {status}", more, retry_after, "GET", "/v1/Workspaces")


@pytest.mark.parametrize(
    ("http", "code", "reason"),
    [
        (400, C.INVALID_ARGUMENT, "TWILIO_BAD_REQUEST"),
        (401, C.UNAUTHENTICATED, "TWILIO_UNAUTHENTICATED"),
        (403, C.PERMISSION_DENIED, "TWILIO_PERMISSION_DENIED"),
        (404, C.NOT_FOUND, "TWILIO_NOT_FOUND"),
        (409, C.ABORTED, "TWILIO_CONFLICT"),
        (412, C.ABORTED, "TWILIO_PRECONDITION_FAILED"),
        (429, C.RESOURCE_EXHAUSTED, "TWILIO_RATE_LIMITED"),
        (405, C.FAILED_PRECONDITION, "TWILIO_REJECTED"),
        (410, C.FAILED_PRECONDITION, "TWILIO_REJECTED"),
        (422, C.FAILED_PRECONDITION, "TWILIO_REJECTED"),
        (500, C.UNAVAILABLE, "UPSTREAM_UNAVAILABLE"),
        (502, C.UNAVAILABLE, "UPSTREAM_UNAVAILABLE"),
        (503, C.UNAVAILABLE, "UPSTREAM_UNAVAILABLE"),
        (504, C.UNAVAILABLE, "UPSTREAM_UNAVAILABLE"),
        (302, C.INTERNAL, "UPSTREAM_UNEXPECTED_STATUS"),
    ],
)
def test_http_rows(http: int, code: grpc.StatusCode, reason: str) -> None:
    status = errors.status_for(twilio(http, code=20000 + http))
    assert status.code is code
    assert status.details == f"twilio says {http}"
    details = unpack(status)
    info = details["ErrorInfo"]
    assert info.reason == reason and info.domain == "taskrouter.twilio.com"
    assert dict(info.metadata) == {
        "http_status": str(http),
        "twilio_code": str(20000 + http),
        "more_info": f"https://www.twilio.com/docs/errors/{20000 + http}",
    }
    assert "RetryInfo" not in details and "BadRequest" not in details


def test_error_without_twilio_body_has_only_http_status() -> None:
    info = unpack(errors.status_for(twilio(502, code=None)))["ErrorInfo"]
    assert dict(info.metadata) == {"http_status": "502"}


@pytest.mark.parametrize(("seconds", "whole", "nanos"), [(2.0, 2, 0), (0.25, 0, 250_000_000), (1.9999999999, 2, 0)])
def test_retry_after_becomes_retry_info(seconds: float, whole: int, nanos: int) -> None:
    details = unpack(errors.status_for(twilio(429, code=20429, retry_after=seconds)))
    delay = details["RetryInfo"].retry_delay
    assert (delay.seconds, delay.nanos) == (whole, nanos)


@pytest.mark.parametrize(
    ("exc", "code", "reason", "metadata"),
    [
        (UpstreamConnectionError("boom 10.0.0.1:443", method="GET", path="/v1/x"), C.UNAVAILABLE,
         "UPSTREAM_UNREACHABLE", {}),
        (UpstreamTimeout("late", method="GET", path="/v1/x"), C.DEADLINE_EXCEEDED, "UPSTREAM_TIMEOUT", {}),
        (UpstreamBadResponse("html", status=200, method="GET", path="/v1/x"), C.INTERNAL,
         "UPSTREAM_BAD_RESPONSE", {"http_status": "200"}),
        (UnsafePath("unsafe path segment '..'"), C.INVALID_ARGUMENT, "INVALID_RESOURCE_NAME", {}),
        (RuntimeError("secret internals"), C.INTERNAL, "INTERNAL", {"error_id": ANY}),
    ],
)
def test_failure_rows(exc: Exception, code: grpc.StatusCode, reason: str, metadata: dict[str, str]) -> None:
    status = errors.status_for(exc)
    assert status.code is code
    info = unpack(status)["ErrorInfo"]
    assert (info.reason, info.domain, dict(info.metadata)) == (reason, "taskrouter.twilio.com", metadata)


@pytest.mark.parametrize(
    ("row", "code", "reason"),
    [
        ("subscriber_too_slow", C.RESOURCE_EXHAUSTED, "STREAM_SUBSCRIBER_TOO_SLOW"),
        ("shutting_down", C.UNAVAILABLE, "STREAM_SHUTTING_DOWN"),
        ("event_log_unavailable", C.UNAVAILABLE, "EVENT_LOG_UNAVAILABLE"),
        ("cursor_expired", C.OUT_OF_RANGE, "STREAM_CURSOR_EXPIRED"),
    ],
)
def test_stream_end_rows(row, code: grpc.StatusCode, reason: str) -> None:
    status = errors.status_for(errors.StreamEnded(row, "resume from your cursor", {"resume_cursor": "c-1"}))
    assert (status.code, status.details) == (code, "resume from your cursor")
    info = unpack(status)["ErrorInfo"]
    assert (info.reason, dict(info.metadata)) == (reason, {"resume_cursor": "c-1"})


def test_connection_and_internal_messages_do_not_leak_details() -> None:
    conn = errors.status_for(UpstreamConnectionError("Cannot connect to 10.0.0.1:443", method="GET", path="/"))
    assert "10.0.0.1" not in conn.details
    assert "secret" not in errors.status_for(RuntimeError("secret internals")).details


def test_invalid_argument_lists_each_violation() -> None:
    status = errors.invalid_argument([("page_size", "must be <= 1000"), ("workspace_sid", "must be a WS SID")])
    assert status.code is C.INVALID_ARGUMENT
    assert "page_size" in status.details and "workspace_sid" in status.details
    details = unpack(status)
    violations = [(v.field, v.description) for v in details["BadRequest"].field_violations]
    assert violations == [("page_size", "must be <= 1000"), ("workspace_sid", "must be a WS SID")]
    info = details["ErrorInfo"]
    assert info.reason == "INVALID_ARGUMENT" and info.domain == "taskrouter.twilio.com"
    assert info.metadata["fields"] == "page_size,workspace_sid"


def test_invalid_argument_needs_violations() -> None:
    with pytest.raises(ValueError):
        errors.invalid_argument([])


def test_invalid_page_token_maps_to_a_page_token_violation() -> None:
    details = unpack(errors.status_for(InvalidPageToken("page_token belongs to a different list")))
    (violation,) = details["BadRequest"].field_violations
    assert (violation.field, violation.description) == ("page_token", "page_token belongs to a different list")


def test_validation_errors_map_to_bad_request() -> None:
    status = errors.status_for(InvalidArgument([("friendly_name", "is required")]))
    assert status.code is C.INVALID_ARGUMENT
    (violation,) = unpack(status)["BadRequest"].field_violations
    assert violation.field == "friendly_name"


def test_ok_is_not_an_error_status() -> None:
    with pytest.raises(ValueError):
        errors.build_status(C.OK, "fine", "OK")


def test_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        errors.STATUS_TABLE[404] = (C.INTERNAL, "X")  # type: ignore[index]
