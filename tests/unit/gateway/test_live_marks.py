"""Completeness marks moved by live callbacks: only while the run is unbroken, trailing by the slack, never
for a workspace whose backfill has not reached the present."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from taskrouter_gateway.ingest.live_marks import LiveMarks
from taskrouter_gateway.eventlog.log import EventLogError


class FakeLog:
    def __init__(self) -> None:
        self.marks: dict[str, int] = {}

    async def mark_complete_until(self, workspace_sid: str, event_date_ms: int) -> int:
        self.marks[workspace_sid] = max(self.marks.get(workspace_sid, 0), event_date_ms)
        return self.marks[workspace_sid]


async def test_marks_move_only_for_running_workspaces_and_stop_when_the_run_breaks() -> None:
    log = FakeLog()
    marks = LiveMarks(log, slack_ms=100)  # type: ignore[arg-type]
    marks.seen("WSa", 10_000)  # no backfill has reached the present yet: proves nothing
    await marks.flush()
    assert log.marks == {}
    marks.start("WSa")
    marks.seen("WSa", 10_000)
    marks.seen("WSa", 9_000)  # out of order: the newest counts
    marks.seen("WSb", 50_000)
    await marks.flush()
    assert log.marks == {"WSa": 9_900}
    marks.seen("WSa", 20_000)
    marks.broken()  # an append failed: a callback was answered 503 and is lost
    await marks.flush()
    assert log.marks == {"WSa": 9_900} and not marks.running("WSa") and marks.breaks == 1
    marks.seen("WSa", 30_000)
    await marks.flush()
    assert log.marks == {"WSa": 9_900}


async def test_run_flushes_on_its_interval_and_once_more_on_the_way_out() -> None:
    log = FakeLog()
    marks = LiveMarks(log, slack_ms=0)  # type: ignore[arg-type]
    marks.start("WSa")
    task = asyncio.ensure_future(marks.run(interval_s=0.01))
    marks.seen("WSa", 1_000)
    await asyncio.wait_for(_until(lambda: log.marks.get("WSa") == 1_000), 10)
    marks.seen("WSa", 2_000)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert log.marks["WSa"] == 2_000  # the last flush ran although the task was cancelled


async def test_a_failed_write_is_logged_and_the_others_still_go_out() -> None:
    class Flaky(FakeLog):
        async def mark_complete_until(self, workspace_sid: str, event_date_ms: int) -> int:
            if workspace_sid == "WSa":
                raise EventLogError("broker down")
            return await super().mark_complete_until(workspace_sid, event_date_ms)

    log = Flaky()
    marks = LiveMarks(log, slack_ms=0)  # type: ignore[arg-type]
    for ws in ("WSa", "WSb"):
        marks.start(ws)
        marks.seen(ws, 5_000)
    with capture_logs() as lines:
        await marks.flush()
    assert log.marks == {"WSb": 5_000}
    assert [line["event"] for line in lines] == ["event_marks.write_failed"]


def test_a_broken_run_is_logged_only_when_something_was_running() -> None:
    marks = LiveMarks(FakeLog())  # type: ignore[arg-type]
    with capture_logs() as lines:
        marks.broken()
        marks.start("WSa")
        marks.broken()
    assert [(line["event"], line["workspaces"]) for line in lines] == [("event_marks.live_run_broken", 1)]
    assert marks.breaks == 2


async def _until(predicate) -> None:
    while not predicate():
        await asyncio.sleep(0.005)  # polling a condition the task under test brings about
