"""A live gateway (embedded emulator) in its own process, shared by the client-package scenario tests.

Each language's scenario runs in a separate toolchain process against it, as a user's service would.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

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
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
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
