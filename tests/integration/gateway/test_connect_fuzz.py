"""Hostile input on the Connect port (bounded hypothesis runs): whatever the body, content type or path, the
answer is a clear 4xx (or a valid answer), never a 5xx, unknown or internal, and the port keeps serving."""

from __future__ import annotations

import json

import aiohttp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskrouter_gateway.connect.codecs import JsonCodec, Prebuilt, ProtoCodec
from taskrouter.gateway.v1 import event_service_pb2 as e

PATHS = st.sampled_from([
    "/taskrouter.gateway.v1.WorkerService/GetWorker", "/taskrouter.gateway.v1.WorkerService/CreateWorker",
    "/taskrouter.gateway.v1.WorkerService/ListWorkers", "/taskrouter.gateway.v1.EventService/StreamEvents",
    "/taskrouter.gateway.v1.TaskService/UpdateTask", "/taskrouter.gateway.v1.StatisticsService/GetWorkerStatistics",
])
CONTENT_TYPES = st.sampled_from(["application/json", "application/proto", "application/connect+json",
                                 "application/connect+proto", "application/grpc-web+proto", "text/plain", ""])
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                           max_leaves=12)
FIELDS = st.sampled_from(["workspaceSid", "sid", "friendlyName", "attributes", "pageSize", "taskSid", "since",
                          "eventTypes", "startAtNow", "afterCursor", "readOptions", "workspace_sid"])
BODIES = (st.binary(max_size=200)
          | JSON_VALUES.map(lambda v: json.dumps(v).encode())
          | st.dictionaries(FIELDS, JSON_VALUES, max_size=4).map(lambda v: json.dumps(v).encode()))


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=PATHS, content_type=CONTENT_TYPES, body=BODIES, enveloped=st.booleans())
async def test_no_body_gets_a_5xx(connect_gateway, path, content_type, body, enveloped):
    if enveloped:
        body = len(body).to_bytes(5, "big") + body  # flags 0 and the length: a well-framed envelope
    async with aiohttp.ClientSession() as http, \
            http.post(f"{connect_gateway.http_url}{path}", data=body, timeout=aiohttp.ClientTimeout(total=20),
                      headers={"content-type": content_type, "connect-timeout-ms": "3000"}) as response:
        data = await response.read()
        assert response.status < 500, (response.status, data[:300])
        if response.headers.get("content-type", "").startswith("application/json") and response.status != 200:
            assert json.loads(data)["code"] not in ("unknown", "internal"), data[:300]
        if b'"code"' in data and response.status == 200:  # a stream's end-of-stream error
            assert b'"unknown"' not in data and b'"internal"' not in data, data[:300]


def test_a_prebuilt_event_is_rendered_to_json_once_for_every_subscriber():
    payload = e.StreamEventsResponse(events=[e.StreamedEvent(cursor="c1")]).SerializeToString()
    codec = JsonCodec()
    first = codec.encode(Prebuilt(payload, e.StreamEventsResponse))
    again = codec.encode(Prebuilt(payload, e.StreamEventsResponse))
    assert json.loads(first) == {"events": [{"cursor": "c1"}]}
    assert again is first  # the same bytes object: rendered once, not per subscriber
    assert ProtoCodec().encode(Prebuilt(payload, e.StreamEventsResponse)) is payload  # binary: sent as it is


def test_the_rendered_cache_keeps_only_the_newest_payloads():
    codec = JsonCodec(rendered_cache=3)
    payloads = [e.StreamedEvent(cursor=f"c{n}").SerializeToString() for n in range(10)]
    rendered = [codec.encode(Prebuilt(p, e.StreamedEvent)) for p in payloads]
    assert codec.encode(Prebuilt(payloads[-1], e.StreamedEvent)) is rendered[-1]  # still held
    oldest = codec.encode(Prebuilt(payloads[0], e.StreamedEvent))
    assert oldest == rendered[0] and oldest is not rendered[0]  # evicted, rendered again
