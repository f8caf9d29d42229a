"""A live gateway (embedded emulator) in its own process, shared by the client-package scenario tests.

Each language's scenario runs in a separate toolchain process against it, as a user's service would.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from taskrouter.gateway.v1 import event_service_pb2 as e
from taskrouter.gateway.v1 import (
    event_service_pb2_grpc,
    worker_pb2,
    worker_service_pb2_grpc,
)
from taskrouter_gateway import errors

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class LiveGateway:
    target: str  # host:port of the gRPC server
    workspace: str  # the emulator's default workspace


@pytest.fixture(scope="session")
def live_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    tmp = tmp_path_factory.mktemp("live-gateway")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "taskrouter_gateway.cli", "serve", "--grpc-port", "0", "--webhook-port", "0",
         "--log-format", "json", "--event-log", str(tmp / "events.sqlite3")],
        cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Try it:"):
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert ready.wait(60) and proc.poll() is None, "gateway did not start:\n" + "".join(lines)
        banner = "".join(lines)
        target = re.search(r"gRPC on ([\d.]+:\d+)", banner)
        workspace = re.search(r"Default workspace: (WS[0-9a-f]{32})", banner)
        assert target and workspace, banner
        yield LiveGateway(target.group(1), workspace.group(1))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _run_tool(args: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, f"{' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="session")
def run_tool():
    """run_tool(args, cwd=, env=, timeout=): runs a toolchain command, fails the test with its output unless it
    exits 0, returns stdout."""
    return _run_tool


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def typescript_dist() -> Path:
    """clients/typescript compiled by tsc (into its gitignored dist/), once per session."""
    package = ROOT / "clients" / "typescript"
    shutil.rmtree(package / "dist", ignore_errors=True)
    _run_tool([str(ROOT / "node_modules" / ".bin" / "tsc"), "-p", str(package)], cwd=ROOT)
    return package / "dist"


class Probe(worker_service_pb2_grpc.WorkerServiceServicer, event_service_pb2_grpc.EventServiceServicer):
    """Fails the first `failures` calls of every method with UNAVAILABLE, then answers; records metadata."""

    def __init__(self) -> None:
        self.failures = 0
        self.calls: dict[str, int] = {}
        self.metadata: list[dict[str, str]] = []

    async def _enter(self, name: str, context: grpc.aio.ServicerContext) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        self.metadata.append({k: v for k, v in context.invocation_metadata() or ()})
        if self.calls[name] <= self.failures:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "try again")

    async def GetWorker(self, request, context):
        await self._enter("GetWorker", context)
        return worker_pb2.Worker(sid=request.sid)

    async def CreateWorker(self, request, context):
        await self._enter("CreateWorker", context)
        if request.friendly_name == "bad":
            await errors.abort(context, errors.invalid_argument([("friendly_name", "too long")]))
        if request.friendly_name == "later":
            status = errors.build_status(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down", "TWILIO_RATE_LIMITED",
                                         {"twilio_code": "20429"}, retry_after=1.5)
            await errors.abort(context, status)
        return worker_pb2.Worker(friendly_name=request.friendly_name)

    async def StreamEvents(self, request, context):
        await self._enter("StreamEvents", context)
        yield e.StreamEventsResponse(events=[e.StreamedEvent(cursor="c1")])


@pytest.fixture
async def probe():
    server = grpc.aio.server()
    servicer = Probe()
    worker_service_pb2_grpc.add_WorkerServiceServicer_to_server(servicer, server)
    event_service_pb2_grpc.add_EventServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    servicer.target = f"127.0.0.1:{port}"
    yield servicer
    await server.stop(None)
