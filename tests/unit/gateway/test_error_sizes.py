"""Error details stay small: echoed values and the number of violations are capped, so a status's metadata
stays well under the 8 KiB this project allows (clients refuse more than 16 KiB by default)."""

from __future__ import annotations

import base64

import grpc
from google.rpc import error_details_pb2, status_pb2

from taskrouter_gateway import errors
from taskrouter_gateway.upstream.errors import UpstreamError


def _wire_size(status: grpc.Status) -> int:
    # grpc-message is percent-encoded (up to 3 bytes per byte); binary trailers travel base64-encoded.
    message = status.details.encode()
    size = len(message) * 3
    for key, value in status.trailing_metadata:
        size += len(key) + (len(base64.b64encode(value)) if isinstance(value, bytes) else len(value))
    return size


def _bad_request(status: grpc.Status) -> error_details_pb2.BadRequest:
    [(_, raw)] = [(k, v) for k, v in status.trailing_metadata if k == "grpc-status-details-bin"]
    bad_request = error_details_pb2.BadRequest()
    assert any(detail.Unpack(bad_request) for detail in status_pb2.Status.FromString(raw).details)
    return bad_request


def test_many_long_violations_are_capped():
    violations = [(f"event_types[{i}]" + "f" * 300, "é" * 5000) for i in range(100)]
    status = errors.invalid_argument(violations)
    assert _wire_size(status) < 6 * 1024
    listed = _bad_request(status).field_violations
    assert len(listed) == errors.MAX_VIOLATIONS
    assert "more problems" in listed[-1].description
    assert all(len(v.description.encode()) <= errors.MAX_DESCRIPTION_BYTES + 40 for v in listed)


def test_upstream_text_is_capped():
    exc = UpstreamError(400, code=20001, message="x" * 100_000, more_info="https://e.invalid/" + "y" * 10_000, retry_after=None,
                        method="GET", path="/v1/Workspaces")
    status = errors.status_for(exc)
    assert _wire_size(status) < 4 * 1024
    assert status.details.endswith("…")


def test_clip_keeps_short_text_and_cuts_on_a_character_boundary():
    assert errors.clip("short", 10) == "short"
    cut = errors.clip("日本語" * 10, 10)
    assert cut.endswith("…") and len(cut.encode()) <= 10
