"""Every RPC over the Connect port (connect/), through the same pipeline as gRPC: the official runtime's own
client (Connect, gRPC-Web and gRPC protocols; binary and JSON), plain HTTP for what curl sends, errors with
their google.rpc details, server streams message by message, CORS, the port's lifecycle and bad input."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import grpc
import pytest
from connectrpc.client import ConnectClient
from connectrpc.protocol import ProtocolType
from connectrpc.code import Code
from connectrpc.compat import google_protobuf_binary_codec, google_protobuf_json_codec
from connectrpc.errors import ConnectError
from connectutil import END_STREAM, Envelopes, details_of, envelope, method_info
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2
from taskrouter.gateway.v1 import event_service_pb2 as e
from taskrouter.gateway.v1 import worker_service_pb2 as w
from taskrouter.gateway.v1 import worker_service_pb2_grpc

from taskrouter_gateway.services import registry
from taskrouter_gateway.pipeline.marks import service_descriptor

CREATE = "/taskrouter.gateway.v1.WorkerService/CreateWorker"
GET = "/taskrouter.gateway.v1.WorkerService/GetWorker"
LIST = "/taskrouter.gateway.v1.WorkerService/ListWorkers"
STREAM = "/taskrouter.gateway.v1.EventService/StreamEvents"
JSON = {"content-type": "application/json"}


CODECS = {"proto": google_protobuf_binary_codec(), "json": google_protobuf_json_codec()}


@pytest.mark.parametrize("protocol", [ProtocolType.CONNECT, ProtocolType.GRPC_WEB])
@pytest.mark.parametrize("codec", ["proto", "json"])
async def test_the_runtimes_own_client_gets_unary_answers_errors_and_streams(connect_gateway, ws, protocol, codec):
    async with ConnectClient(connect_gateway.http_url, codec=CODECS[codec], protocol=protocol) as client:
        stream = client.execute_server_stream(
            request=e.StreamEventsRequest(workspace_sid=ws, event_types=["worker.created"], since=_a_minute_ago()),
            method=method_info(STREAM), timeout_ms=20_000)
        made = await client.execute_unary(request=w.CreateWorkerRequest(workspace_sid=ws, friendly_name=f"rt-{codec}"),
                                          method=method_info(CREATE))
        assert made.sid.startswith("WK") and made.friendly_name == f"rt-{codec}"
        got = await client.execute_unary(request=w.GetWorkerRequest(workspace_sid=ws, sid=made.sid),
                                         method=method_info(GET))
        assert got.sid == made.sid and got.activity_name == made.activity_name

        with pytest.raises(ConnectError) as caught:
            await client.execute_unary(request=w.CreateWorkerRequest(workspace_sid=ws), method=method_info(CREATE))
        assert caught.value.code == Code.INVALID_ARGUMENT
        assert "friendly_name" in caught.value.message
        bad = next(d for d in caught.value.details if d.type_name == "google.rpc.BadRequest")
        violations = error_details_pb2.BadRequest.FromString(bad.message_bytes).field_violations
        assert [v.field for v in violations] == ["friendly_name"]

        # The stream is sent on its first read, after the worker was made: `since` covers that.
        async with asyncio.timeout(15):
            async for reply in stream:
                sids = [item.event.resource_sid for item in reply.events]
                if made.sid in sids:
                    break
        assert made.sid in sids


async def test_the_grpc_protocol_over_http1_is_refused_with_the_reason(connect_gateway, http):
    # gRPC needs trailers, which HTTP/1.1 cannot carry: the answer says where to go instead.
    async with http.post(f"{connect_gateway.http_url}{GET}", data=envelope(b""),
                         headers={"content-type": "application/grpc+proto"}) as response:
        assert response.status == 415
        assert "use the gRPC port" in await response.text()


async def test_every_rpc_of_every_service_is_served_at_its_grpc_path(connect_gateway, http):
    # An empty request reaches each RPC's own validation: a 404 would mean an RPC the port does not serve, and
    # unknown/internal/unimplemented one that it serves badly.
    seen = 0
    for servicer in (*registry.UPSTREAM_SERVICERS, registry.EventService):
        service = service_descriptor(servicer)
        for method in service.methods:
            if method.server_streaming:
                continue  # an empty StreamEvents is a valid request: the stream tests cover it
            url = f"{connect_gateway.http_url}/{service.full_name}/{method.name}"
            async with http.post(url, data=b"{}", headers=JSON) as response:
                body = await response.json()
                assert response.status != 404, url
                assert body.get("code") not in ("unknown", "internal", "unimplemented"), (url, body)
                if response.status == 400:
                    assert body["code"] == "invalid_argument" and body["message"], (url, body)
            seen += 1
    assert seen >= 60


async def test_curl_creates_a_worker_lists_with_a_filter_and_gets_an_error_with_details(connect_gateway, ws):
    async def curl(path: str, body: dict) -> tuple[int, dict]:
        process = await asyncio.create_subprocess_exec(
            "curl", "-sS", "-w", "\n%{http_code}", "-H", "content-type: application/json", "-d", json.dumps(body),
            f"{connect_gateway.http_url}{path}", stdout=asyncio.subprocess.PIPE)
        out, _ = await process.communicate()
        text, _, status = out.decode().rpartition("\n")
        return int(status), json.loads(text)

    status, made = await curl(CREATE, {"workspaceSid": ws, "friendlyName": "curl-alice",
                                       "attributes": json.dumps({"skills": ["fr"]})})
    assert status == 200 and made["sid"].startswith("WK") and made["friendlyName"] == "curl-alice"
    await curl(CREATE, {"workspaceSid": ws, "friendlyName": "curl-bob", "attributes": json.dumps({"skills": ["de"]})})
    status, listed = await curl(LIST, {"workspaceSid": ws, "targetWorkersExpression": "skills HAS 'fr'"})
    assert status == 200
    assert [worker["friendlyName"] for worker in listed["workers"]] == ["curl-alice"]

    status, error = await curl(LIST, {"workspaceSid": ws, "targetWorkersExpression": "skills HAS"})
    assert status == 400 and error["code"] == "invalid_argument"
    details = details_of(error)
    assert details["google.rpc.ErrorInfo"].domain == "taskrouter.twilio.com"
    info = details["google.rpc.ErrorInfo"]
    # TaskRouter's own refusal, carried through: its code and reason, as the gRPC port gives them.
    assert (info.reason, info.metadata["twilio_code"], info.metadata["http_status"]) == ("TWILIO_BAD_REQUEST", "20001", "400")
    assert "TargetWorkersExpression" in error["message"]

    status, error = await curl(CREATE, {"workspaceSid": ws, "friendlyName": ""})
    assert status == 400 and error["code"] == "invalid_argument"
    assert [v.field for v in details_of(error)["google.rpc.BadRequest"].field_violations] == ["friendly_name"]


async def test_curl_reads_a_stream_message_by_message_while_it_is_open(connect_gateway, ws):
    request = envelope(json.dumps({"workspaceSid": ws, "eventTypes": ["worker.created"], "since": _a_minute_ago().ToJsonString()}).encode())
    process = await asyncio.create_subprocess_exec(
        "curl", "-sS", "-N", "--http1.1", "-H", "content-type: application/connect+json", "--data-binary", "@-",
        f"{connect_gateway.http_url}{STREAM}", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(request)
    process.stdin.close()
    frames = Envelopes()
    try:
        async with grpc.aio.insecure_channel(connect_gateway.grpc_target) as channel:
            workers = worker_service_pb2_grpc.WorkerServiceStub(channel)
            for n in range(3):
                # One worker at a time: each event must come through before the next worker exists.
                made = await asyncio.wait_for(workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws,
                                                                                         friendly_name=f"s{n}")), 10)
                async with asyncio.timeout(15):
                    got: list[str] = []
                    while made.sid not in got:
                        chunk = await process.stdout.read(65536)
                        assert chunk, "the stream ended early"
                        for flags, payload in frames.feed(chunk):
                            assert not flags & END_STREAM, payload
                            events = json.loads(payload).get("events", [])  # {}: the stream is subscribed
                            got += [item["event"]["resourceSid"] for item in events]
                            assert all(item["event"]["eventType"] == "worker.created" for item in events)
                            assert all(item["cursor"] for item in events)
    finally:
        process.kill()
        await process.wait()


async def test_a_stream_says_it_is_live_with_an_empty_message_and_misses_nothing_after_it(connect_gateway, http, ws):
    request = envelope(json.dumps({"workspaceSid": ws, "eventTypes": ["worker.created"], "startAtNow": True}).encode())
    frames = Envelopes()
    async with http.post(f"{connect_gateway.http_url}{STREAM}", data=request, timeout=aiohttp.ClientTimeout(total=30),
                         headers={"content-type": "application/connect+json"}) as response:
        assert response.status == 200
        messages: list[dict] = []
        async with asyncio.timeout(10):
            while not messages:
                messages += [json.loads(p) for _, p in frames.feed(await response.content.readany())]
        assert messages[0] == {}  # subscribed, nothing yet
        # Made only now: start_at_now began before it, so it must come through.
        made = await _create(http, connect_gateway, ws, "after-live")
        async with asyncio.timeout(10):
            while not any(item["event"]["resourceSid"] == made["sid"] for m in messages for item in m.get("events", ())):
                messages += [json.loads(p) for _, p in frames.feed(await response.content.readany())]


async def test_a_stream_refused_at_the_start_ends_with_the_error_in_the_end_of_stream_message(connect_gateway, http):
    request = envelope(json.dumps({"workspaceSid": "not-a-sid"}).encode())
    async with http.post(f"{connect_gateway.http_url}{STREAM}", data=request,
                         headers={"content-type": "application/connect+json"}) as response:
        assert response.status == 200  # Connect streams carry their status in the last message
        frames = Envelopes().feed(await response.read())
    flags, payload = frames[-1]
    assert flags & END_STREAM
    error = json.loads(payload)["error"]
    assert error["code"] == "invalid_argument" and "workspace_sid" in error["message"]


@pytest.mark.parametrize("body,content_type,expected", [
    (b"{not json", "application/json", "invalid_argument"),
    (b"[1, 2]", "application/json", "invalid_argument"),
    (b'{"workspaceSid": 7}', "application/json", "invalid_argument"),
    (b"\xff\xff\xff", "application/proto", "invalid_argument"),
])
async def test_bad_bodies_are_invalid_argument_never_a_5xx(connect_gateway, http, body, content_type, expected):
    async with http.post(f"{connect_gateway.http_url}{GET}", data=body, headers={"content-type": content_type}) as response:
        assert response.status == 400
        assert (await response.json())["code"] == expected


async def test_an_unknown_path_or_content_type_is_refused_plainly(connect_gateway, http):
    async with http.post(f"{connect_gateway.http_url}/taskrouter.gateway.v1.WorkerService/Nope", data=b"{}",
                         headers=JSON) as response:
        assert response.status == 404
    async with http.post(f"{connect_gateway.http_url}{GET}", data=b"{}", headers={"content-type": "text/plain"}) as response:
        assert response.status == 415


async def test_reads_can_be_made_with_get_and_say_when_they_came_from_the_cache(connect_gateway, http, ws):
    made = await _create(http, connect_gateway, ws, "cached")
    message = json.dumps({"workspaceSid": ws, "sid": made["sid"], "readOptions": {"maxStaleness": "60s"}})
    query = {"connect": "v1", "encoding": "json", "message": message}
    # Its worker.created event may drop the first answer from the cache: ask until one comes from it.
    async with asyncio.timeout(10):
        while True:
            async with http.get(f"{connect_gateway.http_url}{GET}", params=query) as response:
                assert response.status == 200
                assert (await response.json())["sid"] == made["sid"]
                age = response.headers.get("trailer-x-cache-age-ms")
            if age is not None:
                break
            await asyncio.sleep(0.01)
    assert 0 <= int(age) <= 60_000
    # A write is not a safe method: GET is refused for it.
    query = {"connect": "v1", "encoding": "json", "message": json.dumps({"workspaceSid": ws, "friendlyName": "x"})}
    async with http.get(f"{connect_gateway.http_url}{CREATE}", params=query) as response:
        assert response.status == 405


async def test_cors_allows_only_the_listed_origins(make_gateway, http, ws):
    gateway = await make_gateway(http_port=0, http_cors_origin="https://dash.example.com")
    preflight = {"origin": "https://dash.example.com", "access-control-request-method": "POST",
                 "access-control-request-headers": "content-type,authorization"}
    async with http.options(f"{gateway.http_url}{LIST}", headers=preflight) as response:
        assert response.status == 204
        assert response.headers["access-control-allow-origin"] == "https://dash.example.com"
        assert "authorization" in response.headers["access-control-allow-headers"]
    async with http.options(f"{gateway.http_url}{LIST}", headers={**preflight, "origin": "https://evil.example"}) as response:
        assert "access-control-allow-origin" not in response.headers
    async with http.post(f"{gateway.http_url}{LIST}", data=json.dumps({"workspaceSid": ws}),
                         headers={**JSON, "origin": "https://dash.example.com"}) as response:
        assert response.status == 200
        assert response.headers["access-control-allow-origin"] == "https://dash.example.com"
    async with http.post(f"{gateway.http_url}{LIST}", data=json.dumps({"workspaceSid": ws}),
                         headers={**JSON, "origin": "https://evil.example"}) as response:
        assert "access-control-allow-origin" not in response.headers


async def test_no_origin_is_allowed_by_default(connect_gateway, http):
    preflight = {"origin": "https://dash.example.com", "access-control-request-method": "POST"}
    async with http.options(f"{connect_gateway.http_url}{LIST}", headers=preflight) as response:
        assert "access-control-allow-origin" not in response.headers


async def test_the_port_is_off_unless_asked_for_and_a_busy_port_is_one_clear_line(gateway, make_gateway):
    assert gateway.http is None and gateway.http_port == 0
    import socket

    from taskrouter_gateway.settings_base import StartupError
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        with pytest.raises(StartupError, match="cannot listen on 127.0.0.1:.* for the Connect port"):
            await make_gateway(http_port=busy.getsockname()[1])


@pytest.mark.parametrize("origin,message", [
    ("*", "'\\*' is not allowed"),
    ("dash.example.com", "is not an origin"),
    ("https://dash.example.com/path", "is not an origin"),
])
def test_bad_cors_origins_are_refused_at_start_up(origin, message):
    from taskrouter_gateway.config import Settings
    from taskrouter_gateway.settings_base import ConfigError
    with pytest.raises(ConfigError, match=message):
        Settings(http_port=0, http_cors_origin=origin).validate()


async def test_streams_end_cleanly_when_the_gateway_stops(make_gateway, http, ws):
    gateway = await make_gateway(http_port=0)
    request = envelope(json.dumps({"workspaceSid": ws, "startAtNow": True}).encode())
    async with http.post(f"{gateway.http_url}{STREAM}", data=request, timeout=aiohttp.ClientTimeout(total=30),
                         headers={"content-type": "application/connect+json"}) as response:
        assert response.status == 200
        stopping = asyncio.create_task(gateway.stop(1.0))
        async with asyncio.timeout(15):
            frames = Envelopes().feed(await response.read())
        await stopping
    flags, payload = frames[-1]
    assert flags & END_STREAM
    error = json.loads(payload)["error"]
    assert error["code"] == "unavailable"  # with a resume cursor, as on gRPC
    assert details_of(error)["google.rpc.ErrorInfo"].metadata


def _a_minute_ago() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromSeconds(int(time.time()) - 60)
    return stamp


async def _post(http, gateway, path: str, body: str) -> dict:
    async with http.post(f"{gateway.http_url}{path}", data=body, headers=JSON) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def _create(http, gateway, ws: str, name: str) -> dict:
    return await _post(http, gateway, CREATE, json.dumps({"workspaceSid": ws, "friendlyName": name}))


async def test_connect_calls_are_counted_and_traced_like_grpc_ones(emulator, tmp_path, http, ws):
    from conftest import settings_for
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind

    from taskrouter_gateway.app import Gateway

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    gateway = Gateway(settings_for(emulator, event_log_path=tmp_path / "e.sqlite3", http_port=0, admin_port=0),
                      tracer_provider=provider)
    await gateway.start()
    try:
        trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
        async with http.post(f"{gateway.http_url}{LIST}", data=json.dumps({"workspaceSid": ws}),
                             headers={**JSON, "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}) as response:
            assert response.status == 200
        async with http.post(f"{gateway.http_url}{GET}", data=json.dumps({"workspaceSid": ws, "sid": "WK" + "0" * 32}),
                             headers=JSON) as response:
            assert response.status == 404
        async with http.get(f"http://127.0.0.1:{gateway.admin_port}/metrics") as response:
            text = await response.text()
        assert f'taskrouter_gateway_rpcs_total{{code="OK",method="{LIST}"}} 1.0' in text
        assert f'taskrouter_gateway_rpcs_total{{code="NOT_FOUND",method="{GET}"}} 1.0' in text
        server = next(s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER and s.name == LIST[1:])
        assert server.context.trace_id == int(trace_id, 16)  # the caller's traceparent was honoured
    finally:
        await gateway.stop(0)


async def test_a_connect_subscriber_that_stops_reading_is_ended_not_buffered_without_bound(make_gateway, http, ws):
    # The HTTP server stops taking writes once the socket is full; the fan-out's per-subscriber buffer then
    # fills and ends that stream alone (RESOURCE_EXHAUSTED with a resume cursor), as on the gRPC port.
    import socket

    from taskrouter_gateway.eventlog import records
    from taskrouter_gateway.translate.events import event_from_rest

    gateway = await make_gateway(http_port=0, subscriber_buffer=8)
    body = envelope(json.dumps({"workspaceSid": ws, "startAtNow": True}).encode())
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", gateway.http_port))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(f"POST {STREAM} HTTP/1.1\r\nHost: gw\r\nContent-Type: application/connect+json\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    await writer.drain()
    async with asyncio.timeout(10):
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        await reader.readuntil(b"{}")  # subscribed; from here on this client reads nothing

    fast = _Reader(http, gateway, ws)
    await fast.open()
    count, counters = 400, gateway.fanout.counters
    for start in range(0, count, 5):
        # Five at a time, under the buffer of 8: the fast reader keeps up, the silent one falls behind.
        items = [{"sid": f"EV{n:032x}", "account_sid": "AC" + "0" * 32, "workspace_sid": ws,
                  "event_type": "worker.activity.update", "resource_sid": "WK" + "1" * 32, "resource_type": "worker",
                  "event_date_ms": 1_800_000_000_000 + n, "description": "x" * 60_000, "event_data": {}}
                 for n in range(start, start + 5)]
        await gateway.event_log.append([records.from_rest(item, event_from_rest(item)) for item in items])
        gateway.fanout.notify()
        async with asyncio.timeout(10):
            await fast.until(start + 5)
    async with asyncio.timeout(10):
        while counters.overflowed < 1:
            await asyncio.sleep(0.01)
        rest = await reader.read()  # the slow client reads at last: some events, then the end of the stream
    await fast.close()
    assert counters.overflowed == 1  # only the slow one
    writer.close()
    frames = Envelopes().feed(_dechunk(rest))
    flags, payload = frames[-1]
    assert flags & END_STREAM
    error = json.loads(payload)["error"]
    assert error["code"] == "resource_exhausted"
    assert details_of(error)["google.rpc.ErrorInfo"].reason == "STREAM_SUBSCRIBER_TOO_SLOW"


class _Reader:
    """A Connect stream read as fast as it comes, counting events."""

    def __init__(self, http, gateway, ws: str) -> None:
        self._http, self._gateway, self._ws = http, gateway, ws
        self.count = 0
        self._frames = Envelopes()

    async def open(self) -> None:
        request = envelope(json.dumps({"workspaceSid": self._ws, "startAtNow": True}).encode())
        self._response = await self._http.post(f"{self._gateway.http_url}{STREAM}", data=request,
                                               headers={"content-type": "application/connect+json"})
        await self.until(0, subscribed=True)

    async def until(self, count: int, subscribed: bool = False) -> None:
        seen_any = False
        while self.count < count or (subscribed and not seen_any):
            chunk = await self._response.content.readany()
            assert chunk, "the fast stream ended"
            for flags, payload in self._frames.feed(chunk):
                assert not flags & END_STREAM, payload
                self.count += len(json.loads(payload).get("events", []))
                seen_any = True

    async def close(self) -> None:
        self._response.close()


def _dechunk(data: bytes) -> bytes:
    """The body of an HTTP/1.1 chunked response from a chunk's start (or the end of the one before)."""
    out, at = b"", 2 if data.startswith(b"\r\n") else 0
    while at < len(data):
        end = data.index(b"\r\n", at)
        size = int(data[at:end].split(b";")[0], 16)
        if size == 0:
            break
        out += data[end + 2:end + 2 + size]
        at = end + 2 + size + 2
    return out
