"""The request pipeline applies each step to a unary RPC and a server-streaming RPC the same way: the caller
check, metrics, the audit line, the trace span, and the mapping of an unexpected exception to INTERNAL.

Two fake RPCs on a real grpc.aio server (127.0.0.1:0), built through gateway_pipeline as the gateway builds
its own. Both are writes by their names (scopes.py), so both are audited.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from structlog.testing import capture_logs

from taskrouter.gateway.v1 import worker_pb2, worker_service_pb2
from taskrouter_gateway import logs
from taskrouter_gateway.auth import AuthPolicy, hash_token
from taskrouter_gateway.errors import error_info_from
from taskrouter_gateway.metrics import NS, GatewayMetrics
from taskrouter_gateway.pipeline import gateway_pipeline
from taskrouter_gateway.tracing import Tracing

SERVICE = "gateway.test.Fake"
UNARY = f"/{SERVICE}/CreateThing"
STREAM = f"/{SERVICE}/StreamThings"
WS = "WS" + "a" * 32
WK = "WK" + "b" * 32
WRITER, READER = "writer-token-1", "reader-token-2"
KINDS = ["unary", "stream"]


@dataclass
class Fake:
    """The server, what its handlers were asked to do, and what the steps recorded."""

    target: str
    metrics: GatewayMetrics
    spans: InMemorySpanExporter
    calls: list[str] = field(default_factory=list)
    fail: bool = False

    def counted(self, method: str, code: str) -> float:
        return self.metrics.registry.get_sample_value(f"{NS}_rpcs_total", {"method": method, "code": code}) or 0.0

    def timed(self, method: str) -> float:
        return self.metrics.registry.get_sample_value(f"{NS}_rpc_duration_seconds_count", {"method": method}) or 0.0


@pytest.fixture
async def fake(tmp_path) -> AsyncIterator[Fake]:
    auth_file = tmp_path / "callers.toml"
    auth_file.write_text(f"""
[[caller]]
name = "router"
token_sha256 = "{hash_token(WRITER)}"
scopes = ["read", "write", "events"]
workspaces = ["{WS}"]

[[caller]]
name = "dashboard"
token_sha256 = "{hash_token(READER)}"
scopes = ["read", "events"]
workspaces = ["*"]
""")
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    metrics = GatewayMetrics()
    pipeline = gateway_pipeline(auth=AuthPolicy(str(auth_file)), metrics=metrics, tracing=Tracing(provider))
    server = grpc.aio.server()
    port = server.add_insecure_port("127.0.0.1:0")
    state = Fake(f"127.0.0.1:{port}", metrics, spans)

    async def create(request: worker_service_pb2.CreateWorkerRequest, context) -> worker_pb2.Worker:
        state.calls.append("unary")
        if state.fail:
            raise RuntimeError("a bug with secret request data")
        return worker_pb2.Worker(sid=WK, workspace_sid=request.workspace_sid)

    async def things(request: worker_service_pb2.CreateWorkerRequest, context) -> AsyncIterator[worker_pb2.Worker]:
        state.calls.append("stream")
        yield worker_pb2.Worker(sid=WK, workspace_sid=request.workspace_sid)
        if state.fail:
            raise RuntimeError("a bug with secret request data")

    parse, render = worker_service_pb2.CreateWorkerRequest.FromString, worker_pb2.Worker.SerializeToString
    handlers = {
        "CreateThing": pipeline.method_handler(UNARY, grpc.unary_unary_rpc_method_handler(
            create, request_deserializer=parse, response_serializer=render)),
        "StreamThings": pipeline.method_handler(STREAM, grpc.unary_stream_rpc_method_handler(
            things, request_deserializer=parse, response_serializer=render)),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    await server.start()
    try:
        yield state
    finally:
        await server.stop(0)
        provider.shutdown()


@pytest.fixture
def captured() -> Any:
    logs.configure(log_format="json", level="info")
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as entries:
        yield entries


async def invoke(fake: Fake, kind: str, token: str | None) -> list[worker_pb2.Worker]:
    """One call of the unary or the streaming fake; what it answered, or its AioRpcError."""
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    request = worker_service_pb2.CreateWorkerRequest(workspace_sid=WS, friendly_name="Alice Secret")
    parse, render = worker_pb2.Worker.FromString, worker_service_pb2.CreateWorkerRequest.SerializeToString
    async with grpc.aio.insecure_channel(fake.target) as channel:
        if kind == "unary":
            call = channel.unary_unary(UNARY, request_serializer=render, response_deserializer=parse)
            return [await call(request, metadata=metadata, timeout=10)]
        stream = channel.unary_stream(STREAM, request_serializer=render, response_deserializer=parse)
        return [item async for item in stream(request, metadata=metadata, timeout=10)]


async def wait_for(condition) -> None:
    """The server runs the steps' ends in its handler's `finally`, which can finish just after the client
    has the status: wait for what they record rather than read it once."""
    async with asyncio.timeout(10):
        while not condition():
            await asyncio.sleep(0.005)


def audits(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in entries if entry["event"] == "audit"]


def method_of(kind: str) -> str:
    return UNARY if kind == "unary" else STREAM


@pytest.mark.parametrize("kind", KINDS)
async def test_a_served_call_is_counted_audited_traced_and_logged(fake: Fake, captured, kind: str) -> None:
    method = method_of(kind)
    got = await invoke(fake, kind, WRITER)
    assert [worker.sid for worker in got] == [WK] and fake.calls == [kind]
    await wait_for(lambda: fake.counted(method, "OK") == 1 and audits(captured))
    (audit,) = audits(captured)
    assert (audit["caller"], audit["code"], audit["denied"]) == ("router", "OK", False)
    assert (audit["workspace_sid"], audit["rpc_method"]) == (WS, method)
    (span,) = fake.spans.get_finished_spans()
    assert (span.name, span.kind, span.attributes["rpc.grpc.status_code"]) == (method[1:], SpanKind.SERVER, "OK")
    assert span.status.status_code is not StatusCode.ERROR
    # Every line logged during the call carries its method; no request field (PII) reaches the log.
    assert all(entry["rpc_method"] == method for entry in captured)
    assert "Alice Secret" not in repr(captured)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("token", "code", "reason", "caller"),
    [
        (None, grpc.StatusCode.UNAUTHENTICATED, "CALLER_UNAUTHENTICATED", "anonymous"),
        (READER, grpc.StatusCode.PERMISSION_DENIED, "CALLER_MISSING_SCOPE", "dashboard"),
    ],
    ids=["no-token", "no-write-scope"],
)
async def test_a_refused_caller_never_reaches_the_handler_and_is_counted_audited_and_traced(
    fake: Fake, captured, kind: str, token: str | None, code: grpc.StatusCode, reason: str, caller: str
) -> None:
    method = method_of(kind)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await invoke(fake, kind, token)
    assert caught.value.code() is code
    assert error_info_from(caught.value)[0].reason == reason
    assert fake.calls == []
    await wait_for(lambda: fake.counted(method, code.name) == 1 and audits(captured))
    (audit,) = audits(captured)
    assert (audit["caller"], audit["code"], audit["denied"]) == (caller, code.name, True)
    (span,) = fake.spans.get_finished_spans()
    assert span.attributes["rpc.grpc.status_code"] == code.name and span.status.status_code is StatusCode.ERROR


@pytest.mark.parametrize("kind", KINDS)
async def test_an_unexpected_exception_is_internal_with_an_id_logged_once(fake: Fake, captured, kind: str) -> None:
    method = method_of(kind)
    fake.fail = True
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await invoke(fake, kind, WRITER)
    error = caught.value
    assert error.code() is grpc.StatusCode.INTERNAL and "secret" not in error.details()
    info, _ = error_info_from(error)
    error_id = info.metadata["error_id"]
    assert info.reason == "INTERNAL" and error_id in error.details()
    await wait_for(lambda: fake.counted(method, "INTERNAL") == 1 and audits(captured))
    logged = [entry for entry in captured if entry.get("error_id") == error_id]
    assert len(logged) == 1 and isinstance(logged[0]["exc_info"], RuntimeError)
    assert logged[0]["rpc_method"] == method
    assert audits(captured)[0]["code"] == "INTERNAL"
    (span,) = fake.spans.get_finished_spans()
    assert span.attributes["rpc.grpc.status_code"] == "INTERNAL"


async def test_streams_are_counted_but_not_timed(fake: Fake) -> None:
    for kind in KINDS:
        await invoke(fake, kind, WRITER)
    await wait_for(lambda: fake.counted(UNARY, "OK") == 1 and fake.counted(STREAM, "OK") == 1)
    assert (fake.timed(UNARY), fake.timed(STREAM)) == (1, 0)
    closed = fake.metrics.registry.get_sample_value(f"{NS}_streams_closed_total", {"reason": "completed"})
    assert closed == 1
