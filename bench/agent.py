"""Load agents: long-lived worker processes, pinned to the load core, that run one load job at a time.

One process per agent (spawned, so nothing of the parent's state leaks in) with one event loop for its life:
grpc.aio channels and aiohttp sessions are made and closed inside each job. A job is an async function
`job(mark, shared, **kwargs)` named by "module:function"; it calls mark("start") / mark("end") around its
measured window, and the parent reads server CPU times as the marks arrive.
"""

from __future__ import annotations

import asyncio
import importlib
import multiprocessing
import os
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

# Slots of the shared int64 array the agents of one run see (multiprocessing.Array, no lock: one writer each).
MIN_INDEX = 0  # subscriber agent: the lowest "highest event index received" over all subscribers
LIVE = 1  # subscriber agent: subscribers that have received at least one message
STOP_POSTER = 2  # parent: the callback poster should stop
STOP_SUBSCRIBERS = 3  # parent: the subscriber agent should close its streams and report
RECORDED = 4  # subscriber agent: receive times recorded so far (latency runs)
SHARED_SLOTS = 8


# Waits scale with the work asked, not one constant: a slow or shared host opens 1,000 streams far more slowly
# than a quiet one ("nothing within 120 s" at 1,000 subscribers). Generous on purpose: they bound a
# hung job, they do not measure anything.
BASE_WAIT = 120.0  # seconds: imports, connecting, a slow start (the one constant there was before)
PER_SUBSCRIBER_WAIT = 0.3  # seconds per stream to open and see live
PER_EVENT_WAIT = 0.002  # seconds per event (callback or delivery) the job must handle


def work_timeout(*, subscribers: int = 0, events: int = 0, seconds: float = 0.0) -> float:
    """How long to wait for a load job's next mark or result, given the work it was asked to do (`seconds`:
    any fixed time the job spends on purpose, a warm-up or a measured window)."""
    return BASE_WAIT + PER_SUBSCRIBER_WAIT * subscribers + PER_EVENT_WAIT * events + seconds


class AgentError(RuntimeError):
    """A job raised in the agent; the message holds its traceback."""


def _agent_main(conn: Connection, cores: set[int] | None, shared: Any) -> None:
    if cores:
        os.sched_setaffinity(0, cores)
    # Before any job imports grpc: its INFO lines (GOAWAY when a server stops) are not results.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    while True:
        message = conn.recv()
        if message is None:
            break
        target, kwargs = message

        def mark(name: str) -> None:
            conn.send(("mark", name, time.time()))

        try:
            module_name, _, function_name = target.partition(":")
            job = getattr(importlib.import_module(module_name), function_name)
            value = loop.run_until_complete(job(mark, shared, **kwargs))
        except BaseException:  # noqa: BLE001 - every failure goes back to the parent
            conn.send(("error", traceback.format_exc()))
        else:
            conn.send(("result", value))
    loop.close()
    conn.close()


class LoadAgent:
    def __init__(self, name: str, cores: set[int] | None, shared: Any) -> None:
        self.name = name
        self._cores = cores
        self._shared = shared
        self._spawn()

    def _spawn(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_agent_main, args=(child, self._cores, self._shared), name=self.name, daemon=True
        )
        self._process.start()
        child.close()
        self._busy = False

    @property
    def busy(self) -> bool:
        """A job was started and its result (or error) not yet received: the agent cannot take another."""
        return self._busy

    def restart(self) -> None:
        """A fresh process in place of this one, for after a section that failed mid-job: the old job may
        still be running (holding streams, posting callbacks), and its late marks would be read as the next
        job's. Killed, not asked: a busy agent does not read its pipe."""
        self._process.terminate()
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        self._conn.close()
        self._spawn()

    @property
    def pid(self) -> int:
        assert self._process.pid is not None
        return self._process.pid

    def start(self, job: str, **kwargs: Any) -> None:
        if self._busy:
            raise RuntimeError(f"agent {self.name} is already running a job")
        self._busy = True
        self._conn.send((job, kwargs))

    def _receive(self, timeout: float) -> tuple[Any, ...]:
        if not self._conn.poll(timeout):
            raise TimeoutError(f"agent {self.name}: nothing within {timeout:.0f} s")
        message = self._conn.recv()
        if message[0] == "error":
            self._busy = False
            raise AgentError(f"agent {self.name} job failed:\n{message[1]}")
        return message

    def wait_mark(self, name: str, timeout: float = 120.0) -> None:
        """Blocks until the running job sends mark(name); fails if the job ends or errs first."""
        message = self._receive(timeout)
        if message[0] == "result":
            self._busy = False
            raise AgentError(f"agent {self.name}: job ended before mark {name!r}")
        if message[1] != name:
            raise AgentError(f"agent {self.name}: expected mark {name!r}, got {message[1]!r}")

    def has_message(self, timeout: float = 0.0) -> bool:
        """True when the job has sent something (a mark or its result) not yet received."""
        return self._conn.poll(timeout)

    def result(self, timeout: float = 120.0) -> Any:
        """Blocks until the running job returns; skips marks the caller did not wait for."""
        deadline = time.monotonic() + timeout
        while True:
            message = self._receive(max(0.0, deadline - time.monotonic()))
            if message[0] == "result":
                self._busy = False
                return message[1]

    def run(self, job: str, timeout: float = 300.0, **kwargs: Any) -> Any:
        self.start(job, **kwargs)
        return self.result(timeout)

    def close(self) -> None:
        if self._process.is_alive():
            try:
                self._conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)
        self._conn.close()


def shared_array() -> Any:
    array = multiprocessing.get_context("spawn").Array("q", SHARED_SLOTS, lock=False)
    for slot in range(SHARED_SLOTS):
        array[slot] = 0
    return array
