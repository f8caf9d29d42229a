"""Gap backfill (ingest/backfill.py) against the emulator's Events API over real HTTP, into a real SQLite log:
where a backfill starts, what it appends and in which order, and when it may claim a workspace complete.

The emulator's clock is moved by hand, and the backfiller's clock reads the same time."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import pytest

from taskrouter_emulator.server import RunningEmulator
from taskrouter_emulator.testing import ManualClock
from taskrouter_gateway.eventlog.log import NewEvent
from taskrouter_gateway.eventlog.sqlite.log import SqliteEventLog
from taskrouter_gateway.ingest.backfill import DEFAULT_OVERLAP_MS, RETENTION_MS, SAFETY_MS, Backfiller
from taskrouter_gateway.ingest.ingestor import Ingestor
from taskrouter_gateway.ingest.live_marks import LiveMarks
from taskrouter_gateway.upstream import Credentials, UpstreamClient

MINUTE_MS = 60_000


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[SqliteEventLog]:
    opened = SqliteEventLog(tmp_path / "events.db")
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture
async def upstream(emulator: RunningEmulator) -> AsyncIterator[UpstreamClient]:
    credentials = Credentials.from_auth_token(emulator.config.account_sid, emulator.config.auth_token)
    async with UpstreamClient(credentials, taskrouter_base_url=emulator.base_url) as client:
        yield client


def _now_ms(clock: ManualClock) -> int:
    return int(clock.now * 1000)


async def _ok(http: aiohttp.ClientSession, method: str, path: str, **kwargs) -> dict:
    async with http.request(method, path, **kwargs) as resp:
        body = await resp.json()
        assert resp.status < 300, (resp.status, body)
        return body


async def _workspace_with_events(http: aiohttp.ClientSession, clock: ManualClock, workers: int) -> str:
    """A workspace whose events are a minute apart (a worker created each minute)."""
    ws = (await _ok(http, "POST", "/v1/Workspaces", data={"FriendlyName": "Backfill"}))["sid"]
    for n in range(workers):
        clock.advance(60)
        await _ok(http, "POST", f"/v1/Workspaces/{ws}/Workers", data={"FriendlyName": f"w{n}"})
    return ws


def _backfiller(upstream, log, clock: ManualClock, **options) -> tuple[Backfiller, LiveMarks]:
    marks = LiveMarks(log)
    ingestor = Ingestor(log, SimpleNamespace(notify=lambda: None), live_marks=marks,
                        clock_ms=lambda: _now_ms(clock))
    return Backfiller(upstream, log, ingestor, clock_ms=lambda: _now_ms(clock), **options), marks


async def test_a_first_backfill_appends_every_event_oldest_first_and_marks_the_workspace_complete(
    emulator_http, emulator_clock, upstream, log
) -> None:
    ws = await _workspace_with_events(emulator_http, emulator_clock, workers=5)
    backfiller, marks = _backfiller(upstream, log, emulator_clock, page_size=2)  # several pages
    result = await backfiller.backfill(ws, start_ms=_now_ms(emulator_clock) - 60 * MINUTE_MS)
    stored = await log.read_after(0, limit=1000, workspace_sid=ws)
    assert result.fetched == result.appended == len(stored) >= 5 and result.duplicates == 0
    # Oldest first (each page is sorted; ties of one date may fall either side of a page boundary).
    assert [e.event_date_ms for e in stored] == sorted(e.event_date_ms for e in stored)
    # Complete up to the newest event TaskRouter listed (its clock, not ours), and live callbacks take over.
    assert await log.complete_until_ms(ws) == max(e.event_date_ms for e in stored)
    assert marks.running(ws)

    again = await backfiller.backfill(ws, start_ms=_now_ms(emulator_clock) - 60 * MINUTE_MS)
    assert (again.fetched, again.appended, again.duplicates) == (result.fetched, 0, result.fetched)
    assert len(await log.read_after(0, limit=1000, workspace_sid=ws)) == len(stored)


async def test_a_range_with_an_end_marks_up_to_that_end_but_leaves_live_marks_off(
    emulator_http, emulator_clock, upstream, log
) -> None:
    ws = await _workspace_with_events(emulator_http, emulator_clock, workers=3)
    backfiller, marks = _backfiller(upstream, log, emulator_clock)
    end = _now_ms(emulator_clock) + MINUTE_MS
    result = await backfiller.backfill(ws, start_ms=_now_ms(emulator_clock) - 60 * MINUTE_MS, end_ms=end)
    assert result.appended >= 3
    assert await log.complete_until_ms(ws) == end
    assert not marks.running(ws)  # a bounded range does not reach the present


async def test_a_range_that_starts_after_the_mark_leaves_the_mark_alone(
    emulator_http, emulator_clock, upstream, log
) -> None:
    ws = await _workspace_with_events(emulator_http, emulator_clock, workers=3)
    backfiller, marks = _backfiller(upstream, log, emulator_clock)
    early = _now_ms(emulator_clock) - 30 * MINUTE_MS
    await log.mark_complete_until(ws, early)
    # From 2 minutes ago: the gap between the mark and then is not covered, so nothing may be claimed.
    result = await backfiller.backfill(ws, start_ms=_now_ms(emulator_clock) - 2 * MINUTE_MS)
    assert result.appended >= 1
    assert await log.complete_until_ms(ws) == early and not marks.running(ws)
    # From the mark itself: the range joins it, and the mark moves to the newest event listed.
    await backfiller.backfill(ws, start_ms=early)
    assert await log.complete_until_ms(ws) == max(e.event_date_ms for e in await log.read_after(0, limit=100))
    assert marks.running(ws)


async def test_with_no_start_given_a_backfill_starts_an_overlap_before_the_mark(
    emulator_http, emulator_clock, upstream, log
) -> None:
    ws = await _workspace_with_events(emulator_http, emulator_clock, workers=4)
    backfiller, _ = _backfiller(upstream, log, emulator_clock, overlap_ms=150_000)  # 2.5 minutes
    await log.mark_complete_until(ws, _now_ms(emulator_clock) - 60_000)
    result = await backfiller.backfill(ws)
    # Workers were created a minute apart, the last one now: from 3.5 minutes ago that is the last four.
    stored = await log.read_after(0, limit=100)
    assert stored and min(e.event_date_ms for e in stored) >= _now_ms(emulator_clock) - 210_000
    assert result.appended == len(stored)


async def test_where_a_backfill_starts(log) -> None:
    now = 100 * 24 * 3600 * 1000
    backfiller = Backfiller(None, log, Ingestor(log, SimpleNamespace(notify=lambda: None)),  # type: ignore[arg-type]
                            clock_ms=lambda: now)
    ws1, ws2, ws3 = ("WS" + str(n) * 32 for n in (1, 2, 3))
    # Never seen: from an overlap before now.
    assert await backfiller.start_ms_for(ws1) == now - DEFAULT_OVERLAP_MS
    # No mark yet, but events (a log written before marks): from an overlap before its newest event.
    await log.append([NewEvent("EV" + "1" * 32, ws2, "task.created", "", now - 5 * MINUTE_MS, b"x"),
                      NewEvent("EV" + "2" * 32, ws2, "task.created", "", now - 9 * MINUTE_MS, b"x")])
    assert await backfiller.start_ms_for(ws2) == now - 5 * MINUTE_MS - DEFAULT_OVERLAP_MS
    # A mark wins over the newest event.
    await log.mark_complete_until(ws2, now - 7 * MINUTE_MS)
    assert await backfiller.start_ms_for(ws2) == now - 7 * MINUTE_MS - DEFAULT_OVERLAP_MS
    # Never before TaskRouter's 30 days, with a margin: an old mark starts at that edge instead.
    await log.mark_complete_until(ws3, now - RETENTION_MS)
    assert await backfiller.start_ms_for(ws3) == now - RETENTION_MS + SAFETY_MS
    assert (RETENTION_MS, SAFETY_MS, DEFAULT_OVERLAP_MS) == (30 * 24 * 3600 * 1000, 5 * MINUTE_MS, 15 * MINUTE_MS)


async def test_without_a_clock_given_a_backfill_starts_from_the_wall_clock(log) -> None:
    backfiller = Backfiller(None, log, Ingestor(log, SimpleNamespace(notify=lambda: None)))  # type: ignore[arg-type]
    before = int(time.time() * 1000)
    start = await backfiller.start_ms_for("WS" + "4" * 32)
    after = int(time.time() * 1000)
    assert before - DEFAULT_OVERLAP_MS <= start <= after - DEFAULT_OVERLAP_MS


async def test_pages_are_asked_for_at_taskrouters_largest_page_size(
    emulator_http, emulator_clock, upstream, log
) -> None:
    # 1,000 is the most PageSize TaskRouter accepts: a month of events in the fewest round trips.
    ws = await _workspace_with_events(emulator_http, emulator_clock, workers=2)
    asked: list[dict] = []
    list_page = upstream.list_page

    async def recording(path, **kwargs):
        asked.append(dict(kwargs["query"]))
        return await list_page(path, **kwargs)

    upstream.list_page = recording
    marks = LiveMarks(log)
    ingestor = Ingestor(log, SimpleNamespace(notify=lambda: None), live_marks=marks,
                        clock_ms=lambda: _now_ms(emulator_clock))
    result = await Backfiller(upstream, log, ingestor, clock_ms=lambda: _now_ms(emulator_clock)).backfill(ws)
    assert result.appended >= 2
    assert asked and all(str(q.get("PageSize")) == "1000" for q in asked), asked
