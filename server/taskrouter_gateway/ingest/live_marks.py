"""Moves the completeness marks (EventLog.complete_until_ms) forward while live callbacks arrive unbroken.

A workspace's run starts when a backfill has covered everything from its mark up to the present (the webhook
was already taking callbacks, so nothing falls between the two). From then on each acknowledged callback
shows the log holds that workspace's events up to about its date; TaskRouter sends callbacks concurrently and
unordered, so the mark trails the newest date by `slack_ms`. The run ends for every workspace when an append
fails (a callback answered 503 is lost: TaskRouter does not retry) or the gateway stops; the mark then stays
where it was, and the next backfill starts there.

Marks are written every `interval_s` (and once at shutdown), not per callback: a mark that is a few seconds
behind only makes the next backfill a little longer.
"""

from __future__ import annotations

import asyncio

import structlog

from ..eventlog.log import EventLog, EventLogError

_log = structlog.get_logger(__name__)
DEFAULT_SLACK_MS = 60_000


class LiveMarks:
    def __init__(self, log: EventLog, *, slack_ms: int = DEFAULT_SLACK_MS) -> None:
        self._log = log
        self._slack_ms = slack_ms
        self._running: set[str] = set()  # workspaces whose run is unbroken
        self._newest: dict[str, int] = {}  # per running workspace, the newest live date not yet written
        self.breaks = 0

    def start(self, workspace_sid: str) -> None:
        """A backfill of this workspace reached the present: its live callbacks now extend the mark."""
        self._running.add(workspace_sid)

    def running(self, workspace_sid: str) -> bool:
        return workspace_sid in self._running

    def seen(self, workspace_sid: str, event_date_ms: int) -> None:
        if workspace_sid in self._running and event_date_ms > self._newest.get(workspace_sid, -1):
            self._newest[workspace_sid] = event_date_ms

    def broken(self) -> None:
        if self._running:
            _log.warning("event_marks.live_run_broken", workspaces=len(self._running))
        self.breaks += 1
        self._running.clear()
        self._newest.clear()

    async def flush(self) -> None:
        """Writes the marks live callbacks have earned since the last flush."""
        # broken() clears what was seen, so everything pending belongs to an unbroken run.
        pending, self._newest = self._newest, {}
        for workspace_sid, newest in pending.items():
            try:
                await self._log.mark_complete_until(workspace_sid, max(0, newest - self._slack_ms))
            except EventLogError as exc:
                _log.warning("event_marks.write_failed", workspace_sid=workspace_sid, error=str(exc))

    async def run(self, interval_s: float = 5.0) -> None:
        """Flush every interval until cancelled; the last flush happens on the way out."""
        try:
            while True:
                await asyncio.sleep(interval_s)
                await self.flush()
        finally:
            await asyncio.shield(self.flush())
