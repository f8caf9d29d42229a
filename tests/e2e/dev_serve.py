"""Starts `./dev serve` (the README's run command) as a newcomer would and waits for its banner."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def start(command: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """(the process, its banner); the banner ends with its "Watch events:" line."""
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Watch events:"):
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(120) or not any(line.startswith("Watch events:") for line in lines):
        proc.kill()
        proc.wait()
        raise AssertionError("gateway printed no banner: " + "".join(lines)[-2000:])
    return proc, "".join(lines)


@contextlib.contextmanager
def running(command: list[str], env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """start(); on leaving, whatever happened, the process is gone (killed if it did not stop)."""
    proc, banner = start(command, env)
    try:
        yield proc, banner
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM, as an operator stops it: the gateway must exit 0 within its grace."""
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
