"""A benchmark run that times out (or ends) must not leave its children running: nats-server nodes, gateways and
load agents used to outlive a smoke run killed by its timeout. Real processes: a shell that starts a child."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import psutil
import pytest

from bench.procs import run_in_own_group


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE  # killed, not yet reaped by init
    except psutil.NoSuchProcess:
        return True


def _wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not _gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_run_that_times_out_takes_its_children_with_it(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    with pytest.raises(subprocess.TimeoutExpired):
        run_in_own_group(["sh", "-c", f"sleep 600 & echo $! > {pid_file}; wait"], timeout=5)
    child = int(pid_file.read_text())
    assert _wait_gone(child), f"child {child} of the timed-out run is still running"


def test_a_run_that_ends_leaves_no_child_behind() -> None:
    run = run_in_own_group(["sh", "-c", "sleep 600 >/dev/null 2>&1 & echo $!"], timeout=30)
    assert run.returncode == 0
    child = int(run.stdout)
    assert _wait_gone(child), f"child {child} outlived the run"
