"""The measured processes: the emulator, the gateway and the bare ceiling servers, each its own OS process.

Each is started with its own interpreter, its stderr kept in a log file, its stdout drained by a thread (the
emulator logs there too, and a full pipe would block it). CPU seconds and RSS come from psutil; pin()
moves every thread of the process, since sched_setaffinity on a pid moves only its main thread.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

_ROOT = Path(__file__).resolve().parent.parent


class StartError(RuntimeError):
    """A server process did not print its ready line; the message holds the tail of its log."""


class ServerProcess:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path, cores: set[int] | None):
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self._popen = subprocess.Popen(argv, env=env, cwd=_ROOT, stdout=subprocess.PIPE, stderr=self._log)
        self.ps = psutil.Process(self._popen.pid)
        # Pinned at once, while the interpreter is still starting: threads made later inherit the mask.
        self.pin(cores)
        self._lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._drain, name=f"{name}-stdout", daemon=True).start()

    @property
    def pid(self) -> int:
        return self._popen.pid

    def _drain(self) -> None:
        assert self._popen.stdout is not None
        for line in self._popen.stdout:
            self._lines.put(line)

    def read_lines(self, count: int, timeout: float) -> list[str]:
        """The next `count` stdout lines, or StartError if they do not come within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        lines: list[str] = []
        while len(lines) < count:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise StartError(f"{self.name}: no ready line within {timeout:.0f} s{self._tail()}") from None
            lines.append(line.decode(errors="replace").rstrip("\n"))
        return lines

    def wait_line(self, timeout: float) -> str | None:
        """The next stdout line; None if the process exits first or none comes within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                return self._lines.get(timeout=0.1).decode(errors="replace").rstrip("\n")
            except queue.Empty:
                if self._popen.poll() is not None and self._lines.empty():
                    return None
        return None

    def exit_code(self) -> int | None:
        return self._popen.poll()

    def last_log_line(self) -> str:
        """The last non-blank line of its log (stderr): a failed start's reason, or a traceback's last line."""
        self._log.flush()
        lines = [line for line in self.log_path.read_text(errors="replace").splitlines() if line.strip()]
        return lines[-1].strip() if lines else ""

    def _tail(self) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace")[-2000:]
        state = "running" if self._popen.poll() is None else f"exited {self._popen.returncode}"
        return f" ({state}); log {self.log_path}:\n{text}"

    def cpu_seconds(self) -> float:
        times = self.ps.cpu_times()
        return times.user + times.system

    def rss_bytes(self) -> int:
        return self.ps.memory_info().rss

    def pin(self, cores: set[int] | None) -> None:
        if not cores:
            return
        for thread in self.ps.threads():
            try:
                os.sched_setaffinity(thread.id, cores)
            except ProcessLookupError:
                pass  # a thread that ended meanwhile

    def stop(self, timeout: float = 15.0) -> None:
        if self._popen.poll() is None:
            self._popen.send_signal(signal.SIGTERM)
            try:
                self._popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self._popen.kill()
                self._popen.wait(5)
        self._log.close()


def run_in_own_group(
    argv: list[str], *, timeout: float, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """subprocess.run(capture_output, text) for a whole benchmark run, which leads its own process group: on
    timeout (or any error while waiting) the group is killed, not just its leader, and so is anything of the
    group still running once the leader is done. Killing only the leader, as subprocess.run does on timeout,
    left its nats-server nodes, gateways and load agents running."""
    process = subprocess.Popen(argv, cwd=cwd or _ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except BaseException:
        kill_group(process)
        raise
    kill_group(process)
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


def kill_group(process: subprocess.Popen[str]) -> None:
    """SIGKILL to every process in the group that `process` leads (started with start_new_session), then
    reaps the leader."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # nothing of the group is left
    process.communicate()


def _python_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "TASKROUTER_GATEWAY_", "OTEL_"))}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


@dataclass
class Emulator:
    process: ServerProcess
    base_url: str
    workspace_sid: str
    account_sid: str
    auth_token: str

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.base_url.removeprefix("http://").partition(":")
        return host, int(port)


def start_emulator(log_dir: Path, cores: set[int] | None) -> Emulator:
    argv = [sys.executable, "-m", "taskrouter_emulator.cli", "--port", "0"]
    process = ServerProcess("emulator", argv, _python_env(), log_dir / "emulator.log", cores)
    lines = process.read_lines(3, timeout=60)
    base = re.search(r"listening on (\S+)", lines[0])
    workspace = re.search(r"default workspace: (WS\w{32})", lines[1])
    credentials = re.search(r"(AC\w{32}) / (\S+)", lines[2])
    if not (base and workspace and credentials):
        process.stop()
        raise StartError(f"emulator: unexpected banner {lines!r}")
    return Emulator(process, base.group(1), workspace.group(1), credentials.group(1), credentials.group(2))


@dataclass
class Gateway:
    process: ServerProcess
    grpc_target: str
    webhook_url: str


def start_gateway(
    emulator: Emulator, event_log: Path, log_dir: Path, cores: set[int] | None, tag: str,
    extra_env: dict[str, str] | None = None, extra_args: list[str] | None = None,
) -> Gateway:
    env = _python_env(
        {
            **(extra_env or {}),
            "TWILIO_ACCOUNT_SID": emulator.account_sid,
            "TWILIO_AUTH_TOKEN": emulator.auth_token,
            "TASKROUTER_GATEWAY_TASKROUTER_BASE_URL": emulator.base_url,
            "TASKROUTER_GATEWAY_API_BASE_URL": emulator.base_url,
            "TASKROUTER_GATEWAY_BACKFILL_ON_START": "false",
        }
    )
    argv = [
        sys.executable, "-m", "taskrouter_gateway.cli", "serve", "--grpc-port", "0", "--webhook-port", "0",
        "--event-log", str(event_log), "--log-level", "warning", *(extra_args or []),
    ]
    process = ServerProcess(f"gateway-{tag}", argv, env, log_dir / f"gateway-{tag}.log", cores)
    [banner] = process.read_lines(1, timeout=60)
    found = re.match(r"TaskRouter gateway: gRPC on (\S+), event webhook on (\S+)", banner)
    if not found:
        process.stop()
        raise StartError(f"gateway: unexpected banner {banner!r}")
    return Gateway(process, found.group(1), found.group(2))


def start_bare(
    kind: str, log_dir: Path, cores: set[int] | None, payload: Path | None = None, extra: list[str] | None = None
) -> tuple[ServerProcess, int]:
    """A bare ceiling server from bench.bare: returns the process and its port."""
    argv = [sys.executable, "-m", "bench.bare", kind, *(extra or [])]
    if payload is not None:
        argv += ["--payload", str(payload)]
    process = ServerProcess(f"bare-{kind}", argv, _python_env(), log_dir / f"bare-{kind}.log", cores)
    [line] = process.read_lines(1, timeout=60)
    found = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
    if not found:
        process.stop()
        raise StartError(f"bare {kind}: unexpected ready line {line!r}")
    return process, int(found.group(1))
