"""Completeness marks moved by live callbacks: only while the run is unbroken, trailing by the slack, never
for a workspace whose backfill has not reached the present."""

from __future__ import annotations

from taskrouter_gateway.events.live_marks import LiveMarks


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
