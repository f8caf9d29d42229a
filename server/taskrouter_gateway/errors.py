"""The one table from a failure (upstream, caller check, bad input, stream end) to gRPC status, and the
google.rpc.Status it travels in.

Handlers raise; the pipeline (pipeline/chain.py) turns whatever ends an RPC, unary or streaming, into a
status with status_for(exc) and abort(...). Every status carries exactly one ErrorInfo (domain
taskrouter.twilio.com); RetryInfo when Twilio sent Retry-After; BadRequest field violations for bad input.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final, Literal, NoReturn

import grpc
import structlog
from google.protobuf import any_pb2, duration_pb2, message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

# Decoding a failed call's details is client code: it lives in the client package (the server depends on it,
# never the reverse) and is re-exported here for callers that import it from this module.
from taskrouter_gateway_client.errors import error_info_from, retry_delay_from  # noqa: F401

from .auth import AccessDenied, PermissionDenied
from .upstream.errors import (
    UnsafePath,
    UpstreamBadResponse,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamTimeout,
)
from .upstream.paging import InvalidPageToken

DOMAIN: Final = "taskrouter.twilio.com"
C = grpc.StatusCode

log = structlog.get_logger("taskrouter_gateway.errors")

# Size caps (UTF-8 bytes). A status travels in trailing metadata, which clients cap (16 KiB by default;
# past that they see RESOURCE_EXHAUSTED instead of the real error). With these caps every status stays
# under about 4.5 KiB even after base64 and percent-encoding: values echoed from requests or upstream
# replies are cut, and a request with many bad fields reports the first MAX_VIOLATIONS.
MAX_MESSAGE_BYTES: Final = 512
MAX_METADATA_VALUE_BYTES: Final = 256
MAX_FIELD_BYTES: Final = 64
MAX_DESCRIPTION_BYTES: Final = 120
MAX_VIOLATIONS: Final = 8


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-8 bytes (on a character boundary), marked with "…" when cut."""
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", "ignore") + "…"

# The table. Keys: an HTTP status Twilio answered with, or a class of failure without a usable status.
#  409 -> ABORTED: Twilio's 409s are state conflicts on an existing resource (a reservation or task moved
#        on concurrently); ALREADY_EXISTS would be wrong for those, and ABORTED tells the client to re-read
#        and retry the whole read-modify-write, which is right for both kinds.
#  other 4xx -> FAILED_PRECONDITION: the gateway validated the request's shape before calling, so a residual
#        405/410/413/422... means the upstream refuses it in its current state; retrying unchanged won't help.
#  3xx (redirects are never followed) and 2xx with a non-JSON body: the upstream broke its contract -> INTERNAL.
STATUS_TABLE: Final[Mapping[int | str, tuple[grpc.StatusCode, str]]] = MappingProxyType(
    {
        400: (C.INVALID_ARGUMENT, "TWILIO_BAD_REQUEST"),
        401: (C.UNAUTHENTICATED, "TWILIO_UNAUTHENTICATED"),
        403: (C.PERMISSION_DENIED, "TWILIO_PERMISSION_DENIED"),
        404: (C.NOT_FOUND, "TWILIO_NOT_FOUND"),
        409: (C.ABORTED, "TWILIO_CONFLICT"),
        412: (C.ABORTED, "TWILIO_PRECONDITION_FAILED"),
        429: (C.RESOURCE_EXHAUSTED, "TWILIO_RATE_LIMITED"),
        "other_4xx": (C.FAILED_PRECONDITION, "TWILIO_REJECTED"),
        # A 400 whose message says the Task or Reservation is in the wrong state for the action (Twilio
        # uses its generic 20001 code for these, so the wording is the only signal; see WRONG_STATE_PHRASES).
        "wrong_state": (C.FAILED_PRECONDITION, "TWILIO_WRONG_STATE"),
        "5xx": (C.UNAVAILABLE, "UPSTREAM_UNAVAILABLE"),
        "other_status": (C.INTERNAL, "UPSTREAM_UNEXPECTED_STATUS"),
        "connection": (C.UNAVAILABLE, "UPSTREAM_UNREACHABLE"),
        "timeout": (C.DEADLINE_EXCEEDED, "UPSTREAM_TIMEOUT"),
        "bad_response": (C.INTERNAL, "UPSTREAM_BAD_RESPONSE"),
        "unsafe_path": (C.INVALID_ARGUMENT, "INVALID_RESOURCE_NAME"),
        "invalid_argument": (C.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        "internal": (C.INTERNAL, "INTERNAL"),
        # The gateway's own caller checks (auth.py), before any upstream call.
        "unauthenticated": (C.UNAUTHENTICATED, "CALLER_UNAUTHENTICATED"),
        "missing_scope": (C.PERMISSION_DENIED, "CALLER_MISSING_SCOPE"),
        "workspace_not_allowed": (C.PERMISSION_DENIED, "CALLER_WORKSPACE_NOT_ALLOWED"),
        # How a StreamEvents stream ends when it cannot go on (StreamEnded), with the cursor to resume from if any.
        "subscriber_too_slow": (C.RESOURCE_EXHAUSTED, "STREAM_SUBSCRIBER_TOO_SLOW"),
        "shutting_down": (C.UNAVAILABLE, "STREAM_SHUTTING_DOWN"),
        "event_log_unavailable": (C.UNAVAILABLE, "EVENT_LOG_UNAVAILABLE"),
        # Not INVALID_ARGUMENT: the cursor was valid, but retention has removed events right after it. The client
        # decides whether resuming from the oldest retained event (or by time) is acceptable.
        "cursor_expired": (C.OUT_OF_RANGE, "STREAM_CURSOR_EXPIRED"),
    }
)

StreamEndRow = Literal["subscriber_too_slow", "shutting_down", "event_log_unavailable", "cursor_expired"]


class StreamEnded(Exception):
    """A stream that cannot go on, for a reason the client can act on: `row` names its STATUS_TABLE row,
    `metadata` goes into the ErrorInfo (the cursor to resume from)."""

    def __init__(self, row: StreamEndRow, message: str, metadata: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.row = row
        self.message = message
        self.metadata = dict(metadata or {})


# Twilio's wording for an action the resource's current state does not allow, e.g. "Reservation WR... not in
# expected state [pending] and cannot be updated to [accepted]", "Cannot cancel task WT... because it is not
# pending or reserved".
WRONG_STATE_PHRASES: Final = ("not in expected state", "because it is not")


def _row_for_http(status: int, message_text: str = "") -> tuple[grpc.StatusCode, str]:
    if status == 400 and any(phrase in message_text for phrase in WRONG_STATE_PHRASES):
        return STATUS_TABLE["wrong_state"]
    if status in STATUS_TABLE:
        return STATUS_TABLE[status]
    if 400 <= status < 500:
        return STATUS_TABLE["other_4xx"]
    if 500 <= status < 600:
        return STATUS_TABLE["5xx"]
    return STATUS_TABLE["other_status"]


def _pack(*messages: message.Message) -> list[any_pb2.Any]:
    packed = []
    for msg in messages:
        item = any_pb2.Any()
        item.Pack(msg)
        packed.append(item)
    return packed


def _duration(seconds: float) -> duration_pb2.Duration:
    seconds_part, nanos = divmod(round(seconds * 1_000_000_000), 1_000_000_000)
    return duration_pb2.Duration(seconds=seconds_part, nanos=nanos)


def build_status(
    code: grpc.StatusCode,
    message_text: str,
    reason: str,
    metadata: Mapping[str, str] | None = None,
    *,
    retry_after: float | None = None,
    bad_request: error_details_pb2.BadRequest | None = None,
) -> grpc.Status:
    """A grpc.Status whose grpc-status-details-bin holds one ErrorInfo (+ RetryInfo, BadRequest)."""
    if code is C.OK:
        raise ValueError("an error status cannot be OK")
    capped = {key: clip(value, MAX_METADATA_VALUE_BYTES) for key, value in (metadata or {}).items()}
    details: list[message.Message] = [error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN, metadata=capped)]
    if retry_after is not None:
        details.append(error_details_pb2.RetryInfo(retry_delay=_duration(max(0.0, retry_after))))
    if bad_request is not None:
        details.append(bad_request)
    text = clip(message_text, MAX_MESSAGE_BYTES)
    status = status_pb2.Status(code=code.value[0], message=text, details=_pack(*details))
    return rpc_status.to_status(status)


def invalid_argument(violations: Sequence[tuple[str, str]]) -> grpc.Status:
    """INVALID_ARGUMENT with a BadRequest listing each (field, description), up to MAX_VIOLATIONS of them;
    the message names the fields."""
    if not violations:
        raise ValueError("invalid_argument needs at least one violation")
    kept = [(clip(field, MAX_FIELD_BYTES), clip(description, MAX_DESCRIPTION_BYTES))
            for field, description in violations[:MAX_VIOLATIONS]]
    if len(violations) > MAX_VIOLATIONS:
        kept[-1] = (kept[-1][0], f"{kept[-1][1]} (and {len(violations) - MAX_VIOLATIONS + 1} more problems)")
    violations = kept
    bad_request = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=field, description=description)
            for field, description in violations
        ]
    )
    text = "invalid request: " + "; ".join(f"{field}: {description}" for field, description in violations)
    code, reason = STATUS_TABLE["invalid_argument"]
    fields = ",".join(dict.fromkeys(field for field, _ in violations))
    return build_status(code, text, reason, {"fields": fields}, bad_request=bad_request)


def access_denied(exc: AccessDenied) -> grpc.Status:
    """UNAUTHENTICATED, or PERMISSION_DENIED with an ErrorInfo naming the missing scope (or workspace)."""
    if isinstance(exc, PermissionDenied):
        metadata = {"scope": exc.scope, "caller": exc.identity}
        if exc.workspace_sid is None:
            code, reason = STATUS_TABLE["missing_scope"]
        else:
            code, reason = STATUS_TABLE["workspace_not_allowed"]
            metadata["workspace_sid"] = exc.workspace_sid
        return build_status(code, str(exc), reason, metadata)
    code, reason = STATUS_TABLE["unauthenticated"]
    return build_status(code, str(exc), reason)


def status_for(exc: Exception) -> grpc.Status:
    """The gRPC status for whatever ends an RPC but a status the handler set itself: a refused caller, bad
    arguments, an upstream failure, a stream that cannot go on; anything else is a bug (unexpected)."""
    if isinstance(exc, AccessDenied):
        return access_denied(exc)
    if isinstance(exc, StreamEnded):
        code, reason = STATUS_TABLE[exc.row]
        return build_status(code, exc.message, reason, exc.metadata)
    if isinstance(exc, UpstreamError):
        code, reason = _row_for_http(exc.status, exc.message)
        metadata = {"http_status": str(exc.status)}
        if exc.code is not None:
            metadata["twilio_code"] = str(exc.code)
        if exc.more_info:
            metadata["more_info"] = exc.more_info
        return build_status(code, exc.message, reason, metadata, retry_after=exc.retry_after)
    if isinstance(exc, UpstreamConnectionError):
        # The aiohttp detail (hosts, errno) stays in the logs; callers only need to know to retry.
        code, reason = STATUS_TABLE["connection"]
        return build_status(code, "TaskRouter is unreachable", reason)
    if isinstance(exc, UpstreamTimeout):
        code, reason = STATUS_TABLE["timeout"]
        return build_status(code, "TaskRouter did not answer before the deadline", reason)
    if isinstance(exc, UpstreamBadResponse):
        code, reason = STATUS_TABLE["bad_response"]
        return build_status(
            code, "TaskRouter sent a reply the gateway cannot read", reason, {"http_status": str(exc.status)}
        )
    if isinstance(exc, InvalidPageToken):
        return invalid_argument([("page_token", str(exc))])
    if isinstance(exc, UnsafePath):
        code, reason = STATUS_TABLE["unsafe_path"]
        return build_status(code, "a resource name in the request is not valid", reason)
    violations = getattr(exc, "violations", None)  # validation.InvalidArgument, without importing upward
    if violations and all(isinstance(v, tuple) and len(v) == 2 for v in violations):
        return invalid_argument(violations)
    return unexpected(exc)


def unexpected(exc: BaseException) -> grpc.Status:
    """INTERNAL for a failure nothing above maps (a bug): its id goes to the caller and, with the traceback,
    to the log, once. Never UNKNOWN, never the exception text (it may hold request data)."""
    error_id = secrets.token_hex(8)
    log.error("unexpected error", error_id=error_id, error_type=type(exc).__name__, exc_info=exc)
    code, reason = STATUS_TABLE["internal"]
    return build_status(code, f"internal error (id {error_id})", reason, {"error_id": error_id})


async def abort(context: grpc.aio.ServicerContext, status: grpc.Status) -> NoReturn:
    """End the RPC with `status` (code, message and rich details trailer)."""
    await context.abort_with_status(status)
    raise AssertionError("abort_with_status returned")  # it always raises
