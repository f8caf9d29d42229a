"""Per-RPC logging over real gRPC: the "rpc" line, ids bound for lines logged inside an RPC, stream lines."""

from __future__ import annotations

import asyncio
import json
from typing import Any, AsyncIterator

import grpc
import pytest
import structlog
from structlog.testing import capture_logs

from taskrouter.gateway.v1 import worker_service_pb2 as w, worker_service_pb2_grpc
from taskrouter_gateway import logs
from taskrouter_gateway.pipeline import Pipeline
from taskrouter_gateway.pipeline.steps import LoggingStep

GET_WORKER = "/taskrouter.gateway.v1.WorkerService/GetWorker"


def json_lines(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


async def rpc_lines(capsys, count: int) -> list[dict[str, Any]]:
    """The next `count` "rpc" lines. The server logs in its handler's `finally`, which can run just after the
    client already has the status, so wait for the lines rather than read once."""
    lines: list[dict[str, Any]] = []
    async with asyncio.timeout(10):
        while len(lines) < count:
            lines += [line for line in json_lines(capsys.readouterr().err) if line["event"] == "rpc"]
            if len(lines) < count:
                await asyncio.sleep(0.005)
    return lines


@pytest.fixture
def workers(channel: grpc.aio.Channel) -> worker_service_pb2_grpc.WorkerServiceStub:
    return worker_service_pb2_grpc.WorkerServiceStub(channel)


async def test_a_retry_warning_inside_an_rpc_carries_its_method_and_request_id(
    workers, emulator, emulator_admin, capsys
):
    ws = emulator.config.default_workspace_sid
    made = await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="Retry"))
    await emulator_admin.add_rest_fault(
        path=f"/v1/Workspaces/{ws}/Workers/{made.sid}", method="GET", status=503, count=1
    )
    # At "warning" the rpc line is skipped, but lines logged inside the RPC still get its ids.
    logs.configure(log_format="json", level="warning")
    capsys.readouterr()
    got = await workers.GetWorker(
        w.GetWorkerRequest(workspace_sid=ws, sid=made.sid), metadata=(("x-request-id", "retry-7"),), timeout=10
    )
    assert got.sid == made.sid
    lines = json_lines(capsys.readouterr().err)
    (retry,) = [line for line in lines if line["event"] == "upstream_call"]
    assert (retry["outcome"], retry["status"], retry["level"]) == ("http_error", 503, "warning")
    assert (retry["rpc_method"], retry["request_id"]) == (GET_WORKER, "retry-7")
    assert not [line for line in lines if line["event"] == "rpc"]


async def test_the_rpc_line_reports_the_last_upstream_call(workers, emulator, emulator_admin, capsys):
    ws = emulator.config.default_workspace_sid
    made = await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="Retry"))
    await emulator_admin.add_rest_fault(
        path=f"/v1/Workspaces/{ws}/Workers/{made.sid}", method="GET", status=503, count=1
    )
    logs.configure(log_format="json", level="info")
    capsys.readouterr()
    await workers.GetWorker(w.GetWorkerRequest(workspace_sid=ws, sid=made.sid), timeout=10)
    (line,) = await rpc_lines(capsys, 1)
    assert (line["rpc_method"], line["code"], line["upstream_status"]) == (GET_WORKER, "OK", 200)
    assert line["latency_ms"] >= line["upstream_ms"] >= 0


async def test_a_refused_request_is_logged_without_upstream_fields(workers, emulator, capsys):
    logs.configure(log_format="json", level="info")
    capsys.readouterr()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await workers.GetWorker(w.GetWorkerRequest(workspace_sid=emulator.config.default_workspace_sid, sid="nope"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    (line,) = await rpc_lines(capsys, 1)
    assert (line["rpc_method"], line["code"]) == (GET_WORKER, "INVALID_ARGUMENT")
    assert "upstream_status" not in line and "upstream_ms" not in line


async def test_request_ids_belong_to_one_rpc(workers, emulator, capsys):
    ws = emulator.config.default_workspace_sid
    made = await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="Ids"))
    request = w.GetWorkerRequest(workspace_sid=ws, sid=made.sid)
    logs.configure(log_format="json", level="info")
    capsys.readouterr()
    await workers.GetWorker(request, metadata=(("x-request-id", "given-1"),))
    await workers.GetWorker(request)
    await workers.GetWorker(request, metadata=(("x-request-id", "x" * 129),))  # too long: replaced
    await workers.GetWorker(request)
    ids = [line["request_id"] for line in await rpc_lines(capsys, 4)]
    assert len(ids) == 4 and ids[0] == "given-1"
    generated = ids[1:]
    assert len(set(generated)) == 3
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in generated)


# -- a stream through the logging step, on a bare grpc.aio server------------------------------------------------------------

STREAM = "/gateway.test.Logged/Items"


class StreamServer:
    """One unary-stream method through a pipeline with just the logging step; `behaviour` decides what it does."""

    def __init__(self) -> None:
        self.inner_closed = asyncio.Event()
        self.behaviour = "complete"
        handler = grpc.unary_stream_rpc_method_handler(self._items)
        self.server = grpc.aio.server()
        self.server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(
                "gateway.test.Logged", {"Items": Pipeline([LoggingStep()]).method_handler(STREAM, handler)}
            ),)
        )
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    async def _items(self, request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        try:
            yield b"one"
            if self.behaviour == "abort":
                await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "not now")
            elif self.behaviour == "hang":
                await asyncio.Event().wait()
            yield b"two"
        finally:
            self.inner_closed.set()


@pytest.fixture
async def stream_server() -> AsyncIterator[StreamServer]:
    server = StreamServer()
    await server.server.start()
    try:
        yield server
    finally:
        await server.server.stop(0)


@pytest.fixture
def captured() -> Any:
    logs.configure(log_format="json", level="info")
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as entries:
        yield entries


async def closed_line(entries: list[dict[str, Any]]) -> dict[str, Any]:
    async def seen() -> dict[str, Any]:
        while True:
            found = [e for e in entries if e["event"] == "stream closed"]
            if found:
                return found[0]
            await asyncio.sleep(0.01)

    return await asyncio.wait_for(seen(), 10)


async def test_a_completed_stream_logs_opened_and_closed(stream_server: StreamServer, captured) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stream_server.port}") as channel:
        call = channel.unary_stream(STREAM)(b"", metadata=(("x-request-id", "s-1"),))
        assert [item async for item in call] == [b"one", b"two"]
    closed = await closed_line(captured)
    (opened,) = [e for e in captured if e["event"] == "stream opened"]
    assert (opened["rpc_method"], opened["request_id"]) == (STREAM, "s-1")
    assert (closed["rpc_method"], closed["request_id"], closed["code"]) == (STREAM, "s-1", "OK")


async def test_an_aborted_stream_logs_its_status(stream_server: StreamServer, captured) -> None:
    stream_server.behaviour = "abort"
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stream_server.port}") as channel:
        call = channel.unary_stream(STREAM)(b"")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in call:
                pass
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert (await closed_line(captured))["code"] == "FAILED_PRECONDITION"


async def test_a_cancelled_stream_closes_the_inner_generator_and_says_so(
    stream_server: StreamServer, captured
) -> None:
    stream_server.behaviour = "hang"
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stream_server.port}") as channel:
        call = channel.unary_stream(STREAM)(b"")
        assert await call.read() == b"one"
        call.cancel()
        await asyncio.wait_for(stream_server.inner_closed.wait(), 10)
    closed = await closed_line(captured)
    assert closed["code"] == "CANCELLED" and closed["rpc_method"] == STREAM
    assert len(closed["request_id"]) == 32


def test_the_pipeline_refuses_a_client_streaming_handler() -> None:
    handler = grpc.stream_unary_rpc_method_handler(lambda requests, context: None)
    with pytest.raises(TypeError, match="client streams"):
        Pipeline([LoggingStep()]).method_handler(STREAM, handler)
