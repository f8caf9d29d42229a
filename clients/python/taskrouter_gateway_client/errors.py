"""Reading the gateway's rich errors: the google.rpc.Status in a failed call's `grpc-status-details-bin` trailer.

Every gateway error carries one ErrorInfo (domain taskrouter.twilio.com; Twilio's code in metadata
`twilio_code`), RetryInfo when the caller should wait, and BadRequest naming each bad field. Works on the
errors of sync (grpc.RpcError) and asyncio (grpc.aio.AioRpcError) calls alike: both expose trailing_metadata().
"""

from __future__ import annotations

from typing import Any, Final, Protocol, TypeVar

from google.protobuf import message
from google.rpc import error_details_pb2, status_pb2

DETAILS_KEY: Final = "grpc-status-details-bin"
M = TypeVar("M", bound=message.Message)


class _FailedCall(Protocol):
    def trailing_metadata(self) -> Any: ...


def status_from(rpc_error: _FailedCall) -> status_pb2.Status:
    """The google.rpc.Status the gateway attached. Raises ValueError when the error carries none."""
    for key, value in rpc_error.trailing_metadata() or ():
        if key == DETAILS_KEY:
            return status_pb2.Status.FromString(value)
    raise ValueError("the RPC error carries no grpc-status-details-bin trailer")


def _detail(rpc_error: _FailedCall, kind: type[M]) -> M | None:
    for detail in status_from(rpc_error).details:
        if detail.Is(kind.DESCRIPTOR):
            found = kind()
            detail.Unpack(found)
            return found
    return None


def error_info_from(
    rpc_error: _FailedCall,
) -> tuple[error_details_pb2.ErrorInfo, error_details_pb2.BadRequest | None]:
    """(ErrorInfo, BadRequest or None) from a failed call. Raises ValueError if there is no ErrorInfo."""
    info = _detail(rpc_error, error_details_pb2.ErrorInfo)
    if info is None:
        raise ValueError("the RPC error's status details hold no ErrorInfo")
    return info, _detail(rpc_error, error_details_pb2.BadRequest)


def bad_request_from(rpc_error: _FailedCall) -> error_details_pb2.BadRequest | None:
    """The BadRequest (one field violation per bad field) of an INVALID_ARGUMENT, or None."""
    return _detail(rpc_error, error_details_pb2.BadRequest)


def retry_delay_from(rpc_error: _FailedCall) -> float | None:
    """Seconds from the RetryInfo detail, or None when the gateway sent none."""
    retry = _detail(rpc_error, error_details_pb2.RetryInfo)
    if retry is None:
        return None
    return float(retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9)


__all__ = ["DETAILS_KEY", "bad_request_from", "error_info_from", "retry_delay_from", "status_from"]
