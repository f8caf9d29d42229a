"""The admin port over real HTTP: /metrics parsed with Prometheus' own parser, /healthz, /readyz; traces."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from pathlib import Path

import grpc
import pytest
from callback_fixtures import live_callback
from gateway_certs import TestCA
from gateway_upstream_scripted import Reply, upstream  # noqa: F401  (fixture)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families
from taskrouter.gateway.v1 import event_service_pb2 as e
from taskrouter.gateway.v1 import event_service_pb2_grpc, worker_service_pb2_grpc
from taskrouter.gateway.v1 import worker_service_pb2 as w
from taskrouter_gateway import logs
from taskrouter_gateway.auth import hash_token
from taskrouter_gateway.tracing import provider_from_env
from twilio.request_validator import RequestValidator

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "callbacks"
NS = "taskrouter_gateway"
GET_WORKER = "/taskrouter.gateway.v1.WorkerService/GetWorker"


async def scrape(http, gateway) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample as {(name, sorted labels): value}."""
    async with http.get(f"http://127.0.0.1:{gateway.admin_port}/metrics") as resp:
        assert resp.status == 200 and resp.content_type == "text/plain"
        text = await resp.text()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def callback_params(workspace_sid: str) -> dict[str, str]:
    return live_callback(WorkspaceSid=workspace_sid)


async def post_callback(http, url: str, params, signature: str | None, headers=None) -> int:
    headers = dict(headers or {})
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    async with http.post(url, data=params, headers=headers) as resp:
        return resp.status


async def test_metrics_move_with_rpcs_callbacks_and_streams(make_gateway, emulator, ws, http):
    gateway = await make_gateway(admin_port=0)
    before = await scrape(http, gateway)
    assert value(before, f"{NS}_stream_subscribers") == 0
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        workers = worker_service_pb2_grpc.WorkerServiceStub(channel)
        events = event_service_pb2_grpc.EventServiceStub(channel)
        made = await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="M"))
        for _ in range(3):
            await workers.GetWorker(w.GetWorkerRequest(workspace_sid=ws, sid=made.sid))
        with pytest.raises(grpc.aio.AioRpcError):
            await workers.GetWorker(w.GetWorkerRequest(workspace_sid=ws, sid="WK" + "0" * 32))
        with pytest.raises(grpc.aio.AioRpcError):
            await workers.GetWorker(w.GetWorkerRequest(workspace_sid=ws, sid="bad"))

        # Callbacks: one accepted, its duplicate, and each kind of refusal.
        token, url = emulator.config.auth_token, gateway.webhook_url
        params = callback_params(ws)
        signature = RequestValidator(token).compute_signature(url, params)
        assert await post_callback(http, url, params, signature) == 204
        assert await post_callback(http, url, params, signature) == 204
        assert await post_callback(http, url, params, "forged") == 403
        assert await post_callback(http, url, "x", "sig", headers={"Content-Type": "text/plain"}) == 400
        big = {"Sid": "EV1", "Payload": "x" * (gateway.settings.webhook_max_body + 1)}
        assert await post_callback(http, url, big, "sig") == 413

        stream = events.StreamEvents(e.StreamEventsRequest(workspace_sid=ws))
        await asyncio.wait_for(gateway.fanout.wait_until(lambda c: c.subscribers == 1), 10)
        during = await scrape(http, gateway)
        stream.cancel()
        await asyncio.wait_for(gateway.fanout.wait_until(lambda c: c.subscribers == 0), 10)

    after = await scrape(http, gateway)
    assert value(during, f"{NS}_stream_subscribers") == 1
    assert value(during, f"{NS}_subscriber_lag_events_count") == 1
    rpcs = f"{NS}_rpcs_total"
    assert value(after, rpcs, method=GET_WORKER, code="OK") - value(before, rpcs, method=GET_WORKER, code="OK") == 3
    assert value(after, rpcs, method=GET_WORKER, code="NOT_FOUND") == 1
    assert value(after, rpcs, method=GET_WORKER, code="INVALID_ARGUMENT") == 1
    assert value(after, f"{NS}_rpc_duration_seconds_count", method=GET_WORKER) == 5
    assert value(after, f"{NS}_upstream_requests_total", method="GET", status="200") >= 3
    assert value(after, f"{NS}_upstream_requests_total", method="GET", status="404") == 1
    assert value(after, f"{NS}_upstream_request_duration_seconds_count", method="POST") >= 1
    for outcome, count in (("accepted", 1), ("duplicate", 1), ("bad_signature", 1), ("bad_request", 1),
                           ("too_large", 1)):
        assert value(after, f"{NS}_webhook_callbacks_total", outcome=outcome) == count, outcome
    assert value(after, f"{NS}_event_append_duration_seconds_count") == 2
    assert value(after, f"{NS}_event_log_events") == 1
    assert value(after, f"{NS}_event_log_oldest_event_age_seconds") >= 0
    assert value(after, f"{NS}_event_log_bytes") > 0
    assert value(after, f"{NS}_streams_closed_total", reason="client_cancelled") == 1
    assert value(after, f"{NS}_stream_subscribers") == 0
    # Bounded labels: no sid ever becomes a label value.
    for (_name, labels) in after:
        for _key, label in labels:
            assert not label.startswith(("WK", "WS", "EV", "AC")), label


async def test_rate_limit_headroom_retries_and_429s_are_exported(make_gateway, emulator, emulator_admin, ws, http):
    gateway = await make_gateway(admin_port=0)
    path = f"/v1/Workspaces/{ws}/Workers"
    await emulator_admin.add_rest_fault(path=path, method="GET", status=429, count=1, retry_after=0)
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        workers = worker_service_pb2_grpc.WorkerServiceStub(channel)
        await workers.ListWorkers(w.ListWorkersRequest(workspace_sid=ws), timeout=10)
    samples = await scrape(http, gateway)
    assert value(samples, f"{NS}_upstream_rate_limited_total") == 1
    assert value(samples, f"{NS}_upstream_retries_total", method="GET") == 1
    assert value(samples, f"{NS}_upstream_requests_total", method="GET", status="429") == 1


async def test_a_callback_older_than_retention_is_exported_as_expired_not_bad_request(
    make_gateway, emulator, ws, http
):
    gateway = await make_gateway(admin_port=0, event_retention_days=1)
    before = await scrape(http, gateway)
    two_days_ago = time.time_ns() // 1_000_000 - 2 * 24 * 3600 * 1000
    url, params = gateway.webhook_url, live_callback(WorkspaceSid=ws, at_ms=two_days_ago)
    signature = RequestValidator(emulator.config.auth_token).compute_signature(url, params)
    assert await post_callback(http, url, params, signature) == 400
    after = await scrape(http, gateway)
    callbacks = f"{NS}_webhook_callbacks_total"
    moved = {outcome: value(after, callbacks, outcome=outcome) - value(before, callbacks, outcome=outcome)
             for outcome in ("expired", "bad_request", "accepted")}
    # A 400 like a malformed callback, but counted apart: a replay of an old event is not a broken sender.
    assert moved == {"expired": 1, "bad_request": 0, "accepted": 0}


async def test_healthz_and_readyz_follow_the_gateway(make_gateway, emulator, ws, http):
    gateway = await make_gateway(admin_port=0)
    base = f"http://127.0.0.1:{gateway.admin_port}"
    async with http.get(f"{base}/healthz") as resp:
        assert resp.status == 200
    async with http.get(f"{base}/readyz") as resp:
        assert resp.status == 200
    # The event log stops taking writes: the next callback is refused, and the gateway says it is not ready.
    await gateway.event_log.close()
    url, params = gateway.webhook_url, callback_params(ws)
    signature = RequestValidator(emulator.config.auth_token).compute_signature(url, params)
    assert await post_callback(http, url, params, signature) == 503
    async with http.get(f"{base}/readyz") as resp:
        assert resp.status == 503 and "event log" in await resp.text()
    samples = await scrape(http, gateway)
    assert value(samples, f"{NS}_event_append_failures_total") == 1
    assert value(samples, f"{NS}_webhook_callbacks_total", outcome="log_unavailable") == 1


async def test_readyz_is_false_while_draining(make_gateway, http):
    gateway = await make_gateway(admin_port=0, shutdown_grace_seconds=5.0)
    base = f"http://127.0.0.1:{gateway.admin_port}"
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        # An open stream keeps the gateway draining until the fan-out closes it.
        stream = event_service_pb2_grpc.EventServiceStub(channel).StreamEvents(
            e.StreamEventsRequest(workspace_sid="WS" + "1" * 32)
        )
        await asyncio.wait_for(gateway.fanout.wait_until(lambda c: c.subscribers == 1), 10)
        stopping = asyncio.ensure_future(gateway.stop())
        while not gateway.readiness.draining:
            await asyncio.sleep(0)
        async with http.get(f"{base}/readyz") as resp:
            assert resp.status == 503 and "draining" in await resp.text()
        with contextlib.suppress(grpc.aio.AioRpcError):
            await stream.read()
        await stopping


async def test_no_admin_port_unless_asked(gateway):
    assert gateway.admin_port == 0 and gateway.metrics is None


# -- traces ------------------------------------------------------------------------------------------


WS, WK = "WS" + "1" * 32, "WK" + "2" * 32
WORKER_PATH = f"/v1/Workspaces/{WS}/Workers/{WK}"
WORKER_JSON = {"sid": WK, "workspace_sid": WS, "account_sid": "AC" + "0" * 32, "friendly_name": "T",
               "attributes": "{}", "activity_name": "Offline", "available": False}


@pytest.fixture
def scripted(upstream):  # noqa: F811  (the imported fixture)
    """The shared scripted upstream, answering GetWorker with a Worker and X-Rate-Limit-* headers."""
    upstream.script(
        "GET", WORKER_PATH,
        *[Reply(json=WORKER_JSON, headers={"X-Rate-Limit-Limit": "100", "X-Rate-Limit-Remaining": str(100 - n)})
          for n in range(3)],
    )
    return upstream


def traceparents(server) -> list[str | None]:
    return [seen.headers.get("traceparent") for seen in server.seen("GET", WORKER_PATH)]


async def test_the_latest_rate_limit_headroom_is_exported(make_gateway, scripted, http):
    gateway = await make_gateway(admin_port=0, taskrouter_base_url=scripted.base_url)
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        workers = worker_service_pb2_grpc.WorkerServiceStub(channel)
        for _ in range(3):
            await workers.GetWorker(w.GetWorkerRequest(workspace_sid=WS, sid=WK))
    samples = await scrape(http, gateway)
    assert value(samples, f"{NS}_upstream_rate_limit_remaining") == 98
    assert value(samples, f"{NS}_upstream_rate_limit_limit") == 100
    assert traceparents(scripted) == [None, None, None]  # tracing off, none sent: nothing added


async def test_with_tracing_off_an_incoming_traceparent_is_passed_on_unchanged(make_gateway, scripted):
    gateway = await make_gateway(taskrouter_base_url=scripted.base_url)
    assert gateway.tracing is not None and not hasattr(gateway.tracing, "tracer")
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        workers = worker_service_pb2_grpc.WorkerServiceStub(channel)
        metadata = (("traceparent", PARENT), ("tracestate", "vendor=1"))
        await workers.GetWorker(w.GetWorkerRequest(workspace_sid=WS, sid=WK), metadata=metadata, timeout=5)
        await workers.GetWorker(w.GetWorkerRequest(workspace_sid=WS, sid=WK), timeout=5)
    (first, second) = scripted.seen("GET", WORKER_PATH)
    assert (first.headers.get("traceparent"), first.headers.get("tracestate")) == (PARENT, "vendor=1")
    assert "traceparent" not in second.headers  # one RPC's context never leaks into the next


TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
async def make_traced_gateway(emulator, tmp_path):
    from conftest import settings_for
    from taskrouter_gateway.app import Gateway

    started = []

    async def make(provider, **overrides):
        gateway = Gateway(
            settings_for(emulator, event_log_path=tmp_path / f"traced-{len(started)}.sqlite3", **overrides),
            tracer_provider=provider,
        )
        await gateway.start()
        started.append(gateway)
        return gateway

    yield make
    for gateway in started:
        await gateway.stop(0)


async def test_traceparent_reaches_upstream_and_spans_nest(make_traced_gateway, scripted):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    gateway = await make_traced_gateway(provider, taskrouter_base_url=scripted.base_url)
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        workers = worker_service_pb2_grpc.WorkerServiceStub(channel)
        got = await workers.GetWorker(
            w.GetWorkerRequest(workspace_sid=WS, sid=WK), metadata=(("traceparent", PARENT),), timeout=5
        )
    assert got.sid == WK
    (sent,) = traceparents(scripted)
    assert sent is not None and sent.split("-")[1] == TRACE_ID
    spans = {span.kind: span for span in exporter.get_finished_spans()}
    server, client = spans[SpanKind.SERVER], spans[SpanKind.CLIENT]
    assert server.name == GET_WORKER[1:] and server.context.trace_id == int(TRACE_ID, 16)
    assert server.parent is not None and server.parent.span_id == int("00f067aa0ba902b7", 16)
    assert client.parent is not None and client.parent.span_id == server.context.span_id
    assert client.attributes["http.response.status_code"] == 200
    assert sent.split("-")[2] == f"{client.context.span_id:016x}"


async def test_with_sampling_off_the_trace_id_still_travels(make_traced_gateway, scripted):
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(ALWAYS_OFF))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    gateway = await make_traced_gateway(provider, taskrouter_base_url=scripted.base_url)
    unsampled = f"00-{TRACE_ID}-00f067aa0ba902b7-00"
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        workers = worker_service_pb2_grpc.WorkerServiceStub(channel)
        await workers.GetWorker(
            w.GetWorkerRequest(workspace_sid=WS, sid=WK), metadata=(("traceparent", unsampled),), timeout=5,
        )
    (sent,) = traceparents(scripted)
    assert sent is not None and sent.split("-")[1] == TRACE_ID and sent.endswith("-00")
    assert exporter.get_finished_spans() == ()


def test_tracing_is_off_unless_an_exporter_is_named():
    assert provider_from_env({}) is None
    assert provider_from_env({"OTEL_TRACES_EXPORTER": "none"}) is None
    assert provider_from_env({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}) is None
    provider = provider_from_env({"OTEL_TRACES_EXPORTER": "otlp"})
    assert provider is not None
    provider.shutdown()
    with pytest.raises(ValueError, match="unknown exporter"):
        provider_from_env({"OTEL_TRACES_EXPORTER": "zipkin"})


# -- secret hygiene ----------------------------------------------------------------------------------


async def test_no_secret_reaches_logs_or_metrics(make_gateway, emulator, ws, http, tmp_path, capsys):
    ca = TestCA()
    (tmp_path / "ca.crt").write_bytes(ca.cert_pem)
    server = ca.issue("gateway", server=True)
    cert, key = server.write(tmp_path, "server")
    token = "tok-" + secrets.token_hex(8)
    auth = tmp_path / "callers.toml"
    auth.write_text(f'[[caller]]\nname = "svc"\ntoken_sha256 = "{hash_token(token)}"\nscopes = ["read", "write"]\n'
                    'workspaces = ["*"]\n')
    logs.configure(log_format="json", level="debug")
    capsys.readouterr()
    gateway = await make_gateway(
        admin_port=0, auth_file=str(auth), tls_cert=str(cert), tls_key=str(key), tls_client_ca=str(tmp_path / "ca.crt")
    )
    client = ca.issue("client")
    creds = grpc.ssl_channel_credentials(ca.cert_pem, client.key_pem, client.cert_pem)
    async with grpc.aio.secure_channel(gateway.grpc_target, creds) as channel:
        workers = worker_service_pb2_grpc.WorkerServiceStub(channel)
        meta = (("authorization", f"Bearer {token}"),)
        made = await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="S"), metadata=meta)
        await workers.GetWorker(w.GetWorkerRequest(workspace_sid=ws, sid=made.sid), metadata=meta)
        with contextlib.suppress(grpc.aio.AioRpcError):
            await workers.GetWorker(w.GetWorkerRequest(workspace_sid=ws, sid=made.sid),
                                    metadata=(("authorization", f"Bearer {token}x"),))
    async with http.get(f"http://127.0.0.1:{gateway.admin_port}/metrics") as resp:
        exposition = await resp.text()
    await gateway.stop(0)
    output = capsys.readouterr()
    everything = output.out + output.err + exposition
    assert "rpc" in output.err and f"{NS}_rpcs_total" in exposition  # something was captured
    pem_bodies = [
        b"".join(pem.splitlines()[1:3]).decode()[:40]
        for pem in (server.cert_pem, server.key_pem, client.cert_pem, client.key_pem, ca.cert_pem)
    ]
    for secret in (token, hash_token(token), hash_token(token + "x"), emulator.config.auth_token, *pem_bodies):
        assert secret not in everything
    assert "PRIVATE KEY" not in everything and "BEGIN CERTIFICATE" not in everything
