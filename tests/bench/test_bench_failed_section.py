"""A section that fails mid-job (as fan-out did on a slow host: "agent load-0: nothing within 120 s") must not
take the later sections down with it ("agent load-0 is already running a job"): the next one runs and reports.

Real load agents (spawned processes), real jobs; the failing section is the fan-out's shape cut to its failure:
start a job on an agent, give up waiting for its mark while the job still runs."""

from __future__ import annotations

from typing import Any

import pytest

from bench import agent
from bench.__main__ import run_section
from bench.context import RunContext
from bench.sizes import SMOKE


@pytest.fixture
def ctx(tmp_path):
    context = RunContext.create(SMOKE, tmp_path / "logs")
    try:
        yield context
    finally:
        context.close()


def _stuck_mid_job(ctx: RunContext) -> dict[str, Any]:
    subscribers, poster = ctx.agents
    subscribers.start("bench.jobs_setup:hold", seconds=600)
    poster.start("bench.jobs_setup:hold", seconds=600)
    ctx.shared[agent.LIVE] = 7  # what a half-done run leaves in the shared slots
    subscribers.wait_mark("live", timeout=0.5)  # never comes: TimeoutError with both agents still busy
    raise AssertionError("unreachable")


def _next_section(ctx: RunContext) -> dict[str, Any]:
    first, second = ctx.agents
    first.start("bench.jobs_setup:hold", seconds=0.0)
    second.start("bench.jobs_setup:hold", seconds=0.01)
    return {"results": [first.result(timeout=60), second.result(timeout=60)], "live_slot": ctx.shared[agent.LIVE]}


def test_the_section_after_a_failed_one_runs_and_reports(ctx):
    pids = [a.pid for a in ctx.agents]
    failed = run_section(ctx, _stuck_mid_job)
    assert "TimeoutError: agent load-0: nothing within 0 s" in failed["error"]
    assert failed["agents_restarted"] == ["load-0", "load-1"]
    assert all(not a.busy for a in ctx.agents)
    assert [a.pid for a in ctx.agents] != pids  # fresh processes: the old jobs' late marks cannot leak in

    after = run_section(ctx, _next_section)
    assert "error" not in after, after.get("error")
    assert after["results"] == [{"held": 0.0}, {"held": 0.01}]
    assert after["live_slot"] == 0  # the shared slots were reset with the agents
    assert "agents_restarted" not in after and after["section_seconds"] > 0


def test_a_section_that_fails_with_idle_agents_restarts_none(ctx):
    pids = [a.pid for a in ctx.agents]

    def broken(ctx: RunContext) -> dict[str, Any]:
        raise ValueError("a bug in the section itself")

    result = run_section(ctx, broken)
    assert "ValueError: a bug in the section itself" in result["error"]
    assert "agents_restarted" not in result
    assert [a.pid for a in ctx.agents] == pids


def test_waits_grow_with_the_subscribers_and_events_asked_for():
    # The fixed 120 s that 1,000 subscribers outgrew on a slow host is now the floor, for the least work.
    assert agent.work_timeout(subscribers=1000) > 2 * 120
    assert agent.work_timeout(subscribers=10) < agent.work_timeout(subscribers=100) < agent.work_timeout(subscribers=1000)
    assert agent.work_timeout(events=100_000) > agent.work_timeout(events=1000) > agent.work_timeout()
    assert agent.work_timeout(seconds=30) == agent.work_timeout() + 30
