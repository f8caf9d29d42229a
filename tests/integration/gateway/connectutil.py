"""Helpers for the Connect tests: envelopes (the Connect streaming framing), MethodInfo for the runtime's
client, and reading google.rpc details out of Connect's error JSON."""

from __future__ import annotations

import base64
import json
import struct

from connectrpc.method import IdempotencyLevel, MethodInfo, StreamType
from google.protobuf import descriptor_pool, message_factory
from google.rpc import error_details_pb2

END_STREAM = 0x02


def envelope(payload: bytes, flags: int = 0) -> bytes:
    return struct.pack(">BI", flags, len(payload)) + payload


class Envelopes:
    """Feeds bytes as they arrive; yields (flags, payload) for each whole envelope."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buffer += data
        out = []
        while len(self._buffer) >= 5:
            flags, length = struct.unpack(">BI", self._buffer[:5])
            if len(self._buffer) < 5 + length:
                break
            out.append((flags, self._buffer[5:5 + length]))
            self._buffer = self._buffer[5 + length:]
        return out


def method_info(full_name: str) -> MethodInfo:
    """'/taskrouter.gateway.v1.WorkerService/GetWorker' -> the runtime client's MethodInfo."""
    service_name, _, name = full_name.strip("/").partition("/")
    method = descriptor_pool.Default().FindServiceByName(service_name).methods_by_name[name]
    return MethodInfo(
        name=name, service_name=service_name,
        input=message_factory.GetMessageClass(method.input_type),
        output=message_factory.GetMessageClass(method.output_type),
        idempotency_level=IdempotencyLevel.UNKNOWN,
        stream_type=StreamType.SERVER_STREAM if method.server_streaming else StreamType.UNARY,
    )


def details_of(error_json: dict) -> dict[str, object]:
    """{'google.rpc.ErrorInfo': ErrorInfo, 'google.rpc.BadRequest': BadRequest, ...} from an error body."""
    types = {"google.rpc.ErrorInfo": error_details_pb2.ErrorInfo, "google.rpc.BadRequest": error_details_pb2.BadRequest,
             "google.rpc.RetryInfo": error_details_pb2.RetryInfo, "google.rpc.QuotaFailure": error_details_pb2.QuotaFailure,
             "google.rpc.PreconditionFailure": error_details_pb2.PreconditionFailure,
             "google.rpc.ResourceInfo": error_details_pb2.ResourceInfo, "google.rpc.Help": error_details_pb2.Help}
    found: dict[str, object] = {}
    for detail in error_json.get("details", ()):
        kind = types.get(detail["type"])
        if kind is not None:
            found[detail["type"]] = kind.FromString(base64.b64decode(detail["value"] + "=" * (-len(detail["value"]) % 4)))
    return found


def end_of_stream(payload: bytes) -> dict:
    return json.loads(payload or b"{}")
