"""Gap backfill: fetch from TaskRouter's Events REST API what the webhook missed, and append it deduplicated."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import structlog
from google.protobuf import timestamp_pb2

from taskrouter.gateway.v1 import event_service_pb2 as svc

from ..translate.event_requests import list_events_call
from ..translate.events import event_from_rest
from ..upstream import UpstreamClient
from ..eventlog import records
from .ingestor import Ingestor
from ..eventlog.log import EventLog

log = structlog.get_logger("taskrouter_gateway.backfill")

RETENTION_MS = 30 * 24 * 3600 * 1000  # TaskRouter keeps events 30 days and refuses older StartDates
SAFETY_MS = 5 * 60 * 1000  # stay clear of the 30-day edge, which moves while we page
# Re-read this far behind the newest logged event: a callback dropped just before it would otherwise be
# skipped. TaskRouter's own default window (Minutes=15) is a natural size; duplicates cost nothing.
DEFAULT_OVERLAP_MS = 15 * 60 * 1000
PAGE_SIZE = 1000
CHUNK = 500


@dataclass(frozen=True)
class BackfillResult:
    fetched: int
    appended: int
    duplicates: int


def _ts(ms: int) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromMilliseconds(ms)
    return ts


class Backfiller:
    def __init__(
        self,
        upstream: UpstreamClient,
        log_: EventLog,
        ingestor: Ingestor,
        *,
        overlap_ms: int = DEFAULT_OVERLAP_MS,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        page_size: int = PAGE_SIZE,
    ) -> None:
        self._upstream = upstream
        self._log = log_
        self._ingestor = ingestor
        self._overlap_ms = overlap_ms
        self._clock_ms = clock_ms
        self._page_size = page_size

    async def start_ms_for(self, workspace_sid: str) -> int:
        """From a little before where the log is known complete (its mark; for a log written before marks,
        its newest event; for a workspace never seen, now), within TaskRouter's 30 days."""
        now = self._clock_ms()
        mark = await self._log.complete_until_ms(workspace_sid)
        if mark is None:
            mark = await self._log.newest_event_date_ms(workspace_sid)
        start = (mark if mark is not None else now) - self._overlap_ms
        return max(start, now - RETENTION_MS + SAFETY_MS)

    async def backfill(
        self,
        workspace_sid: str,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        deadline: float | None = None,
    ) -> BackfillResult:
        # One replica at a time per workspace; a second one waits, then finds the events already logged.
        async with self._log.exclusive(f"backfill.{workspace_sid}"):
            return await self._backfill(workspace_sid, start_ms, end_ms, deadline)

    async def _backfill(
        self, workspace_sid: str, start_ms: int | None, end_ms: int | None, deadline: float | None
    ) -> BackfillResult:
        mark = await self._log.complete_until_ms(workspace_sid)
        if start_ms is None:
            start_ms = await self.start_ms_for(workspace_sid)
        request = svc.ListEventsRequest(
            workspace_sid=workspace_sid, page_size=self._page_size, start_date=_ts(start_ms)
        )
        if end_ms is not None:
            request.end_date.CopyFrom(_ts(end_ms))
        call = list_events_call(request)
        fetched = appended = duplicates = 0
        newest: int | None = None
        token: str | None = None
        # Page by page, each appended before the next is fetched: memory holds one page whatever the range.
        async with self._log.dedup_scope(workspace_sid, start_ms):
            while True:
                reply, token = await self._upstream.list_page(
                    call.path, page_token=token, query=call.query, deadline=deadline, base="taskrouter"
                )
                page = [records.from_rest(item, event_from_rest(item))
                        for item in (reply.body or {}).get("events") or () if isinstance(item, dict)]
                # Oldest first within a page, so the log's order follows TaskRouter's where nothing interleaves.
                page.sort(key=lambda e: (e.event_date_ms, e.sid))
                for i in range(0, len(page), CHUNK):
                    for outcome in await self._ingestor.ingest(page[i : i + CHUNK]):
                        if outcome.duplicate:
                            duplicates += 1
                        else:
                            appended += 1
                fetched += len(page)
                if page:
                    newest = page[-1].event_date_ms if newest is None else max(newest, page[-1].event_date_ms)
                if not token:
                    break
        # Complete up to the range's end when the range starts at (or before) what was already complete. With
        # no end given, "the present" is the newest event TaskRouter listed: its clock, not ours.
        reached = end_ms if end_ms is not None else newest
        joins_mark = mark is None or start_ms <= mark
        if reached is not None and joins_mark:
            await self._log.mark_complete_until(workspace_sid, reached)
        live = self._ingestor.live_marks
        if live is not None and end_ms is None and joins_mark:
            live.start(workspace_sid)  # from here on live callbacks extend the mark
        result = BackfillResult(fetched=fetched, appended=appended, duplicates=duplicates)
        log.info("backfill done", workspace_sid=workspace_sid, start_ms=start_ms, fetched=result.fetched,
                 appended=result.appended, duplicates=result.duplicates, complete_until_ms=reached)
        return result
