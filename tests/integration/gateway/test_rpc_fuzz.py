"""Every RPC's request fields fuzzed over a real gRPC channel: no call ends in UNKNOWN, and every status's
metadata (trailers plus message) stays under 8 KiB, half what clients accept by default."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import descriptor as d, descriptor_pool, message_factory, timestamp_pb2
from hypothesis import HealthCheck, given, settings, strategies as st

from taskrouter_gateway.app import SERVICE_NAMES

from threaded_gateway import threaded_gateway

WS = "WS00000000000000000000000000000001"
METHODS = [
    (service_name, method)
    for service_name in SERVICE_NAMES
    for method in descriptor_pool.Default().FindServiceByName(service_name).methods
]
MAX_METADATA = 8 * 1024
F = d.FieldDescriptor
_INT_RANGES = {
    F.TYPE_INT32: (-(2**31), 2**31 - 1), F.TYPE_SINT32: (-(2**31), 2**31 - 1), F.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    F.TYPE_INT64: (-(2**63), 2**63 - 1), F.TYPE_SINT64: (-(2**63), 2**63 - 1), F.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    F.TYPE_UINT32: (0, 2**32 - 1), F.TYPE_FIXED32: (0, 2**32 - 1),
    F.TYPE_UINT64: (0, 2**64 - 1), F.TYPE_FIXED64: (0, 2**64 - 1),
}
# Values that get past the first checks, so the fuzz also reaches translation and the upstream call.
_PLAUSIBLE = st.sampled_from([
    WS, "WK" + "0" * 32, "WA" + "0" * 32, "EV" + "0" * 32, "CA" + "0" * 32, "worker.created", "worker.*",
    "http://127.0.0.1:1/cb", "{}", '{"a": 1}', "skills HAS 'sales'", "1", "a\r\nb", "\x00", "",
])


def _scalar(field: d.FieldDescriptor) -> st.SearchStrategy:
    if field.type == F.TYPE_STRING:
        return st.one_of(_PLAUSIBLE, st.text(max_size=300))
    if field.type == F.TYPE_BYTES:
        return st.binary(max_size=100)
    if field.type == F.TYPE_BOOL:
        return st.booleans()
    if field.type in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        return st.floats(width=32 if field.type == F.TYPE_FLOAT else 64)
    if field.type == F.TYPE_ENUM:
        return st.integers(-2, len(field.enum_type.values) + 2)
    if field.type in _INT_RANGES:
        low, high = _INT_RANGES[field.type]
        return st.one_of(st.integers(-2, 1001), st.integers(low, high))
    if field.type == F.TYPE_MESSAGE:
        return _message(field.message_type, depth=1)
    raise AssertionError(f"unhandled field type {field.type}")


def _timestamps() -> st.SearchStrategy:
    seconds = st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(1_700_000_000, 1_900_000_000))
    nanos = st.one_of(st.integers(-(2**31), 2**31 - 1), st.integers(0, 999_999_999))
    return st.builds(timestamp_pb2.Timestamp, seconds=seconds, nanos=nanos)


def _message(descriptor: d.Descriptor, depth: int = 0) -> st.SearchStrategy:
    if descriptor.full_name == "google.protobuf.Timestamp":
        return _timestamps()
    cls = message_factory.GetMessageClass(descriptor)
    if depth > 2 or descriptor.full_name.startswith("google.protobuf."):
        return st.just(cls())
    parts = {}
    for field in descriptor.fields:
        value = _scalar(field) if field.type != F.TYPE_MESSAGE else _message(field.message_type, depth + 1)
        if field.is_repeated:
            value = st.lists(value, max_size=25)
        parts[field.name] = st.one_of(st.none(), value)

    def build(values: dict) -> object:
        msg = cls()
        for name, value in values.items():
            if value is None:
                continue
            field = descriptor.fields_by_name[name]
            if field.is_repeated:
                getattr(msg, name).extend(value)
            elif field.type == F.TYPE_MESSAGE:
                getattr(msg, name).CopyFrom(value)
            else:
                setattr(msg, name, value)
        return msg

    return st.fixed_dictionaries(parts).map(build)


@pytest.fixture(scope="module")
def channel(tmp_path_factory):
    with threaded_gateway(tmp_path_factory.mktemp("rpc-fuzz") / "events.sqlite3") as running:
        with grpc.insecure_channel(running.gateway.grpc_target) as ch:
            yield ch


def _outcome(channel: grpc.Channel, service: str, method: d.MethodDescriptor, request) -> grpc.StatusCode:
    path = f"/{service}/{method.name}"
    try:
        if method.server_streaming:
            call = channel.unary_stream(path, request_serializer=type(request).SerializeToString,
                                        response_deserializer=bytes)(request, timeout=1)
            try:
                next(call, None)
            finally:
                call.cancel()
            return grpc.StatusCode.OK
        channel.unary_unary(path, request_serializer=type(request).SerializeToString,
                            response_deserializer=bytes)(request, timeout=10)
        return grpc.StatusCode.OK
    except grpc.RpcError as err:
        size = len((err.details() or "").encode()) + sum(
            len(key) + len(value) for key, value in (err.trailing_metadata() or ())
        )
        assert size < MAX_METADATA, (err.code(), size)
        return err.code()


@pytest.mark.parametrize(("service", "method"), METHODS, ids=[f"{s.split('.')[-1]}.{m.name}" for s, m in METHODS])
def test_fuzz_every_rpc_never_unknown_and_small_metadata(channel, service, method):
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(request=_message(method.input_type))
    def check(request) -> None:
        code = _outcome(channel, service, method, request)
        assert code is not grpc.StatusCode.UNKNOWN, request

    check()


@pytest.mark.parametrize(
    ("service", "method", "request_fields", "field"),
    [
        ("EventService", "ListEvents", {"workspace_sid": WS, "start_date": {"nanos": -1}}, "start_date"),
        ("EventService", "ListEvents", {"workspace_sid": WS, "start_date": {"seconds": 2**62}}, "start_date"),
        ("EventService", "ListEvents", {"workspace_sid": WS, "end_date": {"seconds": -(2**62)}}, "end_date"),
        ("EventService", "BackfillEvents", {"workspace_sid": WS, "start_date": {"nanos": -1}}, "start_date"),
        ("EventService", "BackfillEvents", {"workspace_sid": WS, "end_date": {"seconds": 2**62}}, "end_date"),
        ("WorkerService", "UpdateWorker", {"workspace_sid": WS, "sid": "WK" + "0" * 32, "etag": "\x00"}, "etag"),
        ("WorkerService", "UpdateWorker", {"workspace_sid": WS, "sid": "WK" + "0" * 32, "etag": "a\r\nb"}, "etag"),
        ("WorkerService", "DeleteWorker", {"workspace_sid": WS, "sid": "WK" + "0" * 32, "etag": "a\r\nb"}, "etag"),
        ("EventService", "ConfigureEventCallback",
         {"workspace_sid": WS, "event_types": ["x" * 200] * 20}, "event_types"),
        ("EventService", "StreamEvents", {"workspace_sid": WS, "event_types": ["\x01" * 200] * 20}, "event_types"),
    ],
)
def test_found_cases_are_invalid_argument_naming_the_field(channel, service, method, request_fields, field):
    from google.protobuf import json_format
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    full = f"taskrouter.gateway.v1.{service}"
    descriptor = descriptor_pool.Default().FindServiceByName(full).methods_by_name[method]
    request = message_factory.GetMessageClass(descriptor.input_type)()
    for name, value in request_fields.items():
        if isinstance(value, dict):
            for key, item in value.items():
                setattr(getattr(request, name), key, item)
        elif isinstance(value, list):
            getattr(request, name).extend(value)
        else:
            setattr(request, name, value)
    path = f"/{full}/{method}"
    with pytest.raises(grpc.RpcError) as raised:
        if descriptor.server_streaming:
            for _ in channel.unary_stream(path, request_serializer=type(request).SerializeToString,
                                          response_deserializer=bytes)(request, timeout=5):
                pass
        else:
            channel.unary_unary(path, request_serializer=type(request).SerializeToString,
                                response_deserializer=bytes)(request, timeout=5)
    err = raised.value
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT, (err.code(), err.details())
    status = rpc_status.from_call(err)
    bad_request = error_details_pb2.BadRequest()
    assert any(detail.Unpack(bad_request) for detail in status.details)
    assert field in [v.field for v in bad_request.field_violations], json_format.MessageToDict(bad_request)
    size = len(err.details().encode()) + sum(len(k) + len(v) for k, v in err.trailing_metadata())
    assert size < MAX_METADATA
