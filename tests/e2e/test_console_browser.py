"""The console in a real browser (Debian's Chromium, driven by puppeteer-core) against a live gateway on the
embedded emulator, with auth on: the page loads and says a missing token is refused; a writer's token goes
live; a worker made through gRPC shows in the tail and the workers table; a stopped gateway shows as
disconnected and, once restarted, the tail resumes from its cursor with nothing lost or doubled; filters; a
read-only token cannot press the write button; a phone-sized screen. Screenshots of each state are kept in
test-output/console/ (TEST_OUTPUT_DIR to move it)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import grpc
from taskrouter.gateway.v1 import worker_service_pb2 as w
from taskrouter.gateway.v1 import worker_service_pb2_grpc

from natsutil import free_port

from taskrouter_gateway.auth import hash_token

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("console") / "console_browser.mjs"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
WRITER, READER = "console-writer-token", "console-reader-token"
WS = "WS00000000000000000000000000000001"  # the embedded emulator's default workspace


class Gateway:
    """`taskrouter-gateway serve` as an operator runs it, restartable on the same ports and data."""

    def __init__(self, tmp: Path) -> None:
        auth = tmp / "callers.toml"
        auth.write_text(f'''
[[caller]]
name = "operator"
token_sha256 = "{hash_token(WRITER)}"
scopes = ["read", "write", "events"]
workspaces = ["*"]

[[caller]]
name = "viewer"
token_sha256 = "{hash_token(READER)}"
scopes = ["read", "events"]
workspaces = ["*"]
''')
        self.grpc_port, self.http_port = free_port(), free_port()
        self.argv = [sys.executable, "-m", "taskrouter_gateway.cli", "serve", "--grpc-port", str(self.grpc_port),
                     "--http-port", str(self.http_port), "--webhook-port", str(free_port()),
                     "--emulator-port", str(free_port()), "--data-dir", str(tmp / "data"),
                     "--auth-file", str(auth), "--shutdown-grace", "1", "--log-format", "json"]
        self.log = (tmp / "gateway.log").open("a")
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "TASKROUTER_GATEWAY_"))}
        self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=self.log, text=True)
        ready = threading.Event()

        def read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.log.write(line)
                if line.startswith("TaskRouter gateway:"):
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        assert ready.wait(60) and self.proc.poll() is None, "the gateway did not start; see gateway.log"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            assert self.proc.wait(timeout=30) == 0

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def create_worker(self, name: str) -> str:
        with grpc.insecure_channel(f"127.0.0.1:{self.grpc_port}") as channel:
            stub = worker_service_pb2_grpc.WorkerServiceStub(channel)
            made = stub.CreateWorker(w.CreateWorkerRequest(workspace_sid=WS, friendly_name=name),
                                     metadata=(("authorization", f"Bearer {WRITER}"),), timeout=30,
                                     wait_for_ready=True)
        return made.sid


def test_the_console_in_a_real_browser(tmp_path):
    assert Path(CHROMIUM).exists(), f"no browser at {CHROMIUM}: apt-get install chromium (as .ci/run does), or set CHROMIUM"
    assert shutil.which("node"), "node is needed to drive the browser"
    shots = Path(os.environ.get("TEST_OUTPUT_DIR", ROOT / "test-output")) / "console"
    gateway = Gateway(tmp_path)
    gateway.start()
    browser = subprocess.Popen(
        ["node", str(SCRIPT), f"http://127.0.0.1:{gateway.http_port}/console/", WS, WRITER, READER, str(shots)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert browser.stdin is not None and browser.stdout is not None
    transcript: list[str] = []
    try:
        for line in browser.stdout:
            transcript.append(line.rstrip())
            if not line.startswith("NEED "):
                continue
            action, _, arg = line[5:].strip().partition(" ")
            if action == "create-worker":
                answer = gateway.create_worker(arg)
            elif action == "stop-gateway":
                gateway.stop()
                answer = "ok"
            elif action == "start-gateway":
                gateway.start()
                answer = "ok"
            else:
                raise AssertionError(f"unknown request from the browser script: {line}")
            browser.stdin.write(answer + "\n")
            browser.stdin.flush()
        code = browser.wait(timeout=60)
    finally:
        if browser.poll() is None:
            browser.kill()
        gateway.kill()
    errors = browser.stderr.read() if browser.stderr else ""
    assert code == 0 and transcript[-1:] == ["DONE"], "\n".join(transcript) + "\n" + errors
    for name in ("01-token-refused", "02-live", "03-worker-appeared", "04-disconnected", "05-recovered",
                 "06-filtered", "07-read-only", "08-phone"):
        assert (shots / f"{name}.png").stat().st_size > 1000, name
    print("\n".join(line for line in transcript if line.startswith(("MEASURE", "SHOT"))))
