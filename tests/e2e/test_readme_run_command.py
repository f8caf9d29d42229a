"""The README's run command, as a newcomer runs it: `./dev serve` starts, a stub call succeeds, SIGTERM stops it."""

from __future__ import annotations

import json
import os
import re
import urllib.request
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

import dev_serve

from taskrouter.gateway.v1 import (
    activity_service_pb2 as a,
    activity_service_pb2_grpc,
    worker_service_pb2 as w,
    worker_service_pb2_grpc,
)

ROOT = Path(__file__).resolve().parents[2]


def _readme_run_command() -> list[str]:
    block = (ROOT / "README.md").read_text().split("```bash", 1)[1].split("```", 1)[0]
    first = block.strip().splitlines()[0].split("#", 1)[0].split()
    assert first == ["./dev", "serve"], first
    return first


def test_readme_run_command_serves_the_stubs(tmp_path):
    command = _readme_run_command() + ["--grpc-port", "0", "--webhook-port", "0", "--http-port", "0", "--log-format", "json",
                                       "--data-dir", str(tmp_path / "data")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
    with dev_serve.running(command, env) as (proc, banner):
        target = re.search(r"gRPC on ([\d.]+:\d+)", banner).group(1)
        workspace = re.search(r"Default workspace: (WS[0-9a-f]{32})", banner).group(1)
        assert "grpcurl" in banner and "ListActivities" in banner
        # ./dev serve turns the Connect port on: the console page and a curl-style JSON call answer.
        http_url = re.search(r"Connect \(curl, browsers\): (http://[\d.]+:\d+);", banner).group(1)
        with urllib.request.urlopen(f"{http_url}/console/", timeout=10) as page:
            assert page.status == 200 and b"TaskRouter gateway" in page.read()
        listed = urllib.request.Request(
            f"{http_url}/taskrouter.gateway.v1.ActivityService/ListActivities",
            data=json.dumps({"workspaceSid": re.search(r"Default workspace: (WS[0-9a-f]{32})", banner).group(1)}).encode(),
            headers={"content-type": "application/json"})
        with urllib.request.urlopen(listed, timeout=10) as answer:
            assert len(json.loads(answer.read())["activities"]) == 3
        with grpc.insecure_channel(target) as channel:
            health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            stub = activity_service_pb2_grpc.ActivityServiceStub(channel)
            reply = stub.ListActivities(a.ListActivitiesRequest(workspace_sid=workspace), timeout=10)
            since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
            worker = worker_service_pb2_grpc.WorkerServiceStub(channel).CreateWorker(
                w.CreateWorkerRequest(workspace_sid=workspace, friendly_name="Readme"), timeout=10
            )
        assert {x.friendly_name for x in reply.activities} == {"Offline", "Unavailable", "Available"}
        # Embedded mode wires the emulator's callbacks to the gateway: the live tail sees the new worker.
        tail = subprocess.run(
            [str(ROOT / ".venv/bin/taskrouter-gateway"), "tail", "--target", target, "--workspace", workspace,
             "--type", "worker.created", "--since", since, "--limit", "1"],
            capture_output=True, text=True, timeout=60,
        )
        assert tail.returncode == 0, tail.stderr
        assert "worker.created" in tail.stdout and worker.sid in tail.stdout
        dev_serve.stop(proc)
    stderr = proc.stderr.read() if proc.stderr else ""
    assert "gateway stopped" in stderr, stderr[-2000:]
    print(stderr[-500:], file=sys.stderr)
