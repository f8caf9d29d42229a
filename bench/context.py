"""What the sections share during one run: the core plan, the emulator and gateway, the load agents, the
workers created so far, and the one way to measure a server's CPU over a load job's window."""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import agent, procs
from .sizes import Size


@dataclass(frozen=True)
class CorePlan:
    """Measured servers on `server`, load agents, the parent and unmeasured helpers on `load`."""

    server: set[int]
    load: set[int]
    note: str

    @classmethod
    def detect(cls) -> CorePlan:
        cores = sorted(os.sched_getaffinity(0))
        if len(cores) >= 2:
            return cls({cores[0]}, {cores[1]}, f"measured server on core {cores[0]}, load on core {cores[1]}")
        only = {cores[0]}
        return cls(only, only, f"one core ({cores[0]}): server and load SHARE it; rates are not comparable")


@dataclass
class Measured:
    """A load job's result plus each measured process's CPU seconds over the job's window."""

    result: dict[str, Any]
    cpu: dict[str, float]


@dataclass
class RunContext:
    size: Size
    cores: CorePlan
    log_dir: Path
    work_dir: Path
    shared: Any
    agents: list[agent.LoadAgent] = field(default_factory=list)
    emulator: procs.Emulator | None = None
    gateway: procs.Gateway | None = None
    worker_sids: list[str] = field(default_factory=list)
    worker_create_seconds: float = 0.0
    _tags: set[int] = field(default_factory=set)

    @classmethod
    def create(cls, size: Size, log_dir: Path) -> RunContext:
        cores = CorePlan.detect()
        os.sched_setaffinity(0, cores.load)  # the parent only coordinates; it stays off the server core
        log_dir.mkdir(parents=True, exist_ok=True)
        work_dir = Path(tempfile.mkdtemp(prefix="taskrouter-bench-"))
        shared = agent.shared_array()
        ctx = cls(size, cores, log_dir, work_dir, shared)
        ctx.agents = [agent.LoadAgent(f"load-{n}", cores.load, shared) for n in range(2)]
        return ctx

    # -- the processes under test ------------------------------------------------------------------

    def ensure_emulator(self) -> procs.Emulator:
        if self.emulator is None:
            self.emulator = procs.start_emulator(self.log_dir, self.cores.load)
        return self.emulator

    def ensure_gateway(self) -> procs.Gateway:
        if self.gateway is None:
            self.gateway = self.start_gateway("main")
        return self.gateway

    def start_gateway(
        self, tag: str, extra_env: dict[str, str] | None = None, extra_args: list[str] | None = None
    ) -> procs.Gateway:
        emulator = self.ensure_emulator()
        event_log = self.work_dir / f"events-{tag}.sqlite3"
        return procs.start_gateway(emulator, event_log, self.log_dir, self.cores.server, tag, extra_env, extra_args)

    def ensure_workers(self, count: int) -> list[str]:
        """At least `count` workers in the emulator's default workspace (created over its REST API)."""
        emulator = self.ensure_emulator()
        missing = count - len(self.worker_sids)
        if missing > 0:
            emulator.process.pin(self.cores.server)  # creation is bound by the emulator: give it a core
            created = self.agents[0].run(
                "bench.jobs_setup:create_workers", timeout=600, base_url=emulator.base_url,
                account_sid=emulator.account_sid, auth_token=emulator.auth_token,
                workspace_sid=emulator.workspace_sid, start=len(self.worker_sids), count=missing,
            )
            self.worker_sids += created["sids"]
            self.worker_create_seconds += created["seconds"]
        return self.worker_sids[:count]

    def place(self, measured: list[procs.ServerProcess], others: list[procs.ServerProcess]) -> None:
        for process in measured:
            process.pin(self.cores.server)
        for process in others:
            process.pin(self.cores.load)

    def run_tag(self) -> int:
        """A fresh tag for event Sids: the gateway's log de-duplicates by Sid, so each run needs new ones."""
        while True:
            tag = random.getrandbits(32)
            if tag not in self._tags:
                self._tags.add(tag)
                return tag

    # -- measuring ---------------------------------------------------------------------------------

    def measure(self, processes: dict[str, procs.ServerProcess], job: str, **kwargs: Any) -> Measured:
        """Runs a load job on agent 0; reads each process's CPU seconds at the job's start and end marks."""
        load = self.agents[0]
        load.start(job, **kwargs)
        # Jobs that post callbacks presign their `pool` of them before the window starts.
        load.wait_mark("start", timeout=agent.work_timeout(events=int(kwargs.get("pool", 0)), seconds=self.size.warmup))
        before = {name: p.cpu_seconds() for name, p in processes.items()}
        load.wait_mark("end", timeout=agent.work_timeout(seconds=self.size.seconds))
        after = {name: p.cpu_seconds() for name, p in processes.items()}
        result = load.result(timeout=agent.work_timeout())
        return Measured(result, {name: after[name] - before[name] for name in processes})

    def reset_shared(self) -> None:
        for slot in range(agent.SHARED_SLOTS):
            self.shared[slot] = 0
        self.shared[agent.MIN_INDEX] = -1

    def recover_agents(self) -> list[str]:
        """Leaves every load agent ready for the next section: those caught mid-job (a section that failed
        while waiting on them) are restarted. The names of the restarted ones."""
        restarted = []
        for a in self.agents:
            if a.busy:
                a.restart()
                restarted.append(a.name)
        self.reset_shared()
        return restarted

    def close(self) -> None:
        for a in self.agents:
            a.close()
        for running in (self.gateway, self.emulator):
            if running is not None:
                running.process.stop()
        self.gateway = self.emulator = None
        shutil.rmtree(self.work_dir, ignore_errors=True)  # event logs: a full run writes ~200 MB

