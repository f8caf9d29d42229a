"""The EventLog contract, run on both backends: SQLite on a real file, and JetStream on a real nats-server.

What any EventLog must do for the webhook, the fan-out, cursors and backfill. Backend-specific behaviour
(SQLite's group commit, files and locks; JetStream's stream settings and dedup window) is tested elsewhere.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from natsutil import NatsCluster

from taskrouter_gateway.eventlog.jetstream.log import JetStreamEventLog, NatsOptions, StreamOptions
from taskrouter_gateway.eventlog.log import EventLog, EventLogClosed, EventLogError, NewEvent
from taskrouter_gateway.eventlog.sqlite.log import SqliteEventLog

WS1 = "WS" + "1" * 32
WS2 = "WS" + "2" * 32
T0 = 1_760_000_000_000
_streams = itertools.count()


def ev(n: int, *, ws: str = WS1, date: int | None = None, payload: bytes | None = None,
       event_type: str = "worker.activity.update") -> NewEvent:
    sid = f"EV{n:032d}"
    return NewEvent(
        sid=sid,
        workspace_sid=ws,
        event_type=event_type,
        resource_sid=f"WK{n:032d}",
        event_date_ms=T0 + n if date is None else date,
        payload=payload if payload is not None else f"payload-{sid}".encode(),
    )


MakeLog = Callable[..., Awaitable[EventLog]]


@pytest.fixture(params=["sqlite", "nats"])
async def make_log(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MakeLog]:
    """make(name) opens the log called `name` (the same name reopens the same log); all closed at teardown."""
    opened: list[EventLog] = []
    if request.param == "nats":
        cluster: NatsCluster = request.getfixturevalue("nats_single")
        unique = f"c{next(_streams)}x{id(request) % 10_000}"

        def build(name: str) -> EventLog:
            return JetStreamEventLog(
                NatsOptions(servers=tuple(cluster.urls)),
                StreamOptions(name=f"{unique}_{name}", prefix=f"{unique}.{name}"),
            )
    else:

        def build(name: str) -> EventLog:
            return SqliteEventLog(tmp_path / f"{name}.db")

    async def make(name: str = "events") -> EventLog:
        log = build(name)
        await log.open()
        opened.append(log)
        return log

    make.build = build  # type: ignore[attr-defined]
    yield make
    for log in opened:
        await log.close()


async def _all(log: EventLog, workspace_sid: str | None = None) -> list:
    return await log.read_after(0, limit=100_000, workspace_sid=workspace_sid)


async def test_appends_get_gap_free_increasing_seqs_and_read_back_whole(make_log: MakeLog) -> None:
    log = await make_log()
    assert await log.last_seq() == 0 and await log.first_seq() == 1
    first = await log.append([ev(1), ev(2), ev(3)])
    second = await log.append([ev(4, event_type="task.created")])
    assert [(r.seq, r.duplicate) for r in first + second] == [(1, False), (2, False), (3, False), (4, False)]
    assert await log.last_seq() == 4 and await log.first_seq() == 1

    stored = await _all(log)
    assert [e.seq for e in stored] == [1, 2, 3, 4]
    for n, e in zip(range(1, 5), stored):
        want = ev(n, event_type="task.created" if n == 4 else "worker.activity.update")
        assert (e.sid, e.workspace_sid, e.event_type, e.resource_sid, e.event_date_ms, e.payload) == (
            want.sid, want.workspace_sid, want.event_type, want.resource_sid, want.event_date_ms, want.payload
        )
    received = [e.received_ms for e in stored]
    assert received == sorted(received) and received[0] > 0
    assert await log.get(ev(3).sid) == stored[2]
    assert await log.get("EV-not-there") is None


async def test_fields_that_are_not_subject_tokens_survive(make_log: MakeLog) -> None:
    # A subject-based backend must not lose or mangle what it cannot put in a subject.
    log = await make_log()
    odd = NewEvent("EVodd", "WS with space", "a..b.*.>", "", 0, b"")
    [result] = await log.append([odd])
    [back] = await log.read_after(result.seq - 1, limit=1)
    assert (back.sid, back.workspace_sid, back.event_type, back.resource_sid, back.event_date_ms, back.payload) == (
        "EVodd", "WS with space", "a..b.*.>", "", 0, b""
    )
    assert [e.sid for e in await _all(log, "WS with space")] == ["EVodd"]


async def test_duplicate_in_a_later_append_returns_the_original_seq(make_log: MakeLog) -> None:
    log = await make_log()
    await log.append([ev(1), ev(2)])
    again = await log.append([ev(2, payload=b"a retry with other bytes"), ev(3)])
    assert [(r.seq, r.duplicate) for r in again] == [(2, True), (3, False)]
    assert [e.seq for e in await _all(log)] == [1, 2, 3]
    stored = await log.get(ev(2).sid)
    assert stored is not None and stored.payload == ev(2).payload  # the first copy wins


async def test_duplicate_within_one_append(make_log: MakeLog) -> None:
    log = await make_log()
    results = await log.append([ev(1), ev(2), ev(1), ev(2), ev(3)])
    assert [(r.seq, r.duplicate) for r in results] == [(1, False), (2, False), (1, True), (2, True), (3, False)]
    assert await log.last_seq() == 3
    assert [e.sid for e in await _all(log)] == [ev(1).sid, ev(2).sid, ev(3).sid]


async def test_the_same_sid_appended_concurrently_is_stored_once(make_log: MakeLog) -> None:
    log = await make_log()
    results = await asyncio.gather(*(log.append([ev(7)]) for _ in range(30)))
    flat = [r for rs in results for r in rs]
    assert {r.seq for r in flat} == {1}
    assert sum(not r.duplicate for r in flat) == 1
    assert [e.seq for e in await _all(log)] == [1]


async def test_many_concurrent_appends_all_land_once_with_contiguous_seqs(make_log: MakeLog) -> None:
    log = await make_log()
    results = await asyncio.gather(*(log.append([ev(n)]) for n in range(1, 301)))
    assert sorted(rs[0].seq for rs in results) == list(range(1, 301))
    stored = await _all(log)
    assert [e.seq for e in stored] == list(range(1, 301))
    assert len({e.sid for e in stored}) == 300


async def test_empty_append_writes_nothing(make_log: MakeLog) -> None:
    log = await make_log()
    assert await log.append([]) == []
    assert await log.last_seq() == 0


async def test_read_after_pages_with_limit_and_filters_by_workspace(make_log: MakeLog) -> None:
    log = await make_log()
    await log.append([ev(n, ws=WS1 if n % 3 else WS2) for n in range(1, 31)])  # seq == n

    assert [e.seq for e in await log.read_after(0, limit=3)] == [1, 2, 3]
    assert [e.seq for e in await log.read_after(28, limit=10)] == [29, 30]
    assert await log.read_after(30, limit=10) == []

    pages: list[list[int]] = []
    cursor = 0
    while page := await log.read_after(cursor, limit=4, workspace_sid=WS2):
        pages.append([e.seq for e in page])
        cursor = page[-1].seq
    assert pages == [[3, 6, 9, 12], [15, 18, 21, 24], [27, 30]]
    assert all(e.workspace_sid == WS2 for e in await _all(log, WS2))
    assert [e.seq for e in await log.read_after(10, limit=3, workspace_sid=WS1)] == [11, 13, 14]
    assert await log.read_after(0, limit=10, workspace_sid="WS" + "9" * 32) == []


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(seq=-1, limit=1), ValueError, "seq must be >= 0"),
        (dict(seq="1", limit=1), TypeError, "seq must be an int"),
        (dict(seq=0, limit=0), ValueError, "limit must be an int >= 1"),
        (dict(seq=0, limit=True), ValueError, "limit must be an int >= 1"),
        (dict(seq=0, limit=5, workspace_sid=""), ValueError, "workspace_sid"),
    ],
)
async def test_read_after_rejects_bad_arguments(make_log: MakeLog, kwargs: dict, error: type, message: str) -> None:
    log = await make_log()
    kwargs = dict(kwargs)
    seq = kwargs.pop("seq")
    with pytest.raises(error, match=message):
        await log.read_after(seq, **kwargs)


async def test_other_reads_reject_bad_arguments(make_log: MakeLog) -> None:
    log = await make_log()
    with pytest.raises(ValueError, match="sid"):
        await log.get("")
    with pytest.raises(ValueError, match="workspace_sid"):
        await log.complete_until_ms("")
    with pytest.raises(TypeError, match="event_date_ms"):
        await log.seq_at_or_after(1.5)  # type: ignore[arg-type]


async def test_seq_at_or_after_replays_since_a_time(make_log: MakeLog) -> None:
    log = await make_log()
    assert await log.seq_at_or_after(T0) == 0  # empty log
    await log.append([ev(1, date=1000), ev(2, date=2000), ev(3, date=3000)])
    await log.append([ev(4, date=1500)])  # a late retry, dated before seq 2 and 3

    assert await log.seq_at_or_after(500) == 0
    assert await log.seq_at_or_after(1000) == 0
    assert await log.seq_at_or_after(1001) == 1
    since_2000 = await log.seq_at_or_after(2000)
    assert since_2000 == 1
    assert [e.seq for e in await log.read_after(since_2000, limit=10)] == [2, 3, 4]
    assert await log.seq_at_or_after(3000) == 2
    assert await log.seq_at_or_after(3001) == 4  # nothing that late: only future events follow


async def test_seq_at_or_after_is_exact_when_dates_jump_around(make_log: MakeLog) -> None:
    # Dates far out of log order (backfill, late retries, a skewed clock): the answer is still "just before
    # the first event in log order dated at/after T", checked against a brute-force scan.
    dates = [5000, 100, 9000, 200, 7000, 9000, 50, 12000, 11000, 3000]
    log = await make_log()
    await log.append([ev(n, date=d) for n, d in enumerate(dates, start=1)])
    for t in (0, 50, 51, 100, 101, 4999, 5000, 5001, 8999, 9000, 9001, 11000, 11999, 12000, 12001):
        first = next((seq for seq, d in enumerate(dates, start=1) if d >= t), None)
        assert await log.seq_at_or_after(t) == (len(dates) if first is None else first - 1), t


async def test_completeness_marks_only_move_forward_and_survive_a_reopen(make_log: MakeLog) -> None:
    log = await make_log()
    assert await log.complete_until_ms(WS1) is None
    assert await log.mark_complete_until(WS1, 5000) == 5000
    assert await log.mark_complete_until(WS1, 4000) == 5000  # never back
    assert await log.mark_complete_until(WS2, 9000) == 9000
    assert await log.complete_until_ms(WS1) == 5000
    await log.close()
    reopened = await make_log()
    assert await reopened.complete_until_ms(WS1) == 5000
    assert await reopened.complete_until_ms(WS2) == 9000
    assert await reopened.complete_until_ms("WS" + "9" * 32) is None
    assert await asyncio.gather(*(reopened.mark_complete_until(WS1, 6000 + n) for n in range(5))) is not None
    assert await reopened.complete_until_ms(WS1) == 6004  # concurrent raises: the largest wins
    with pytest.raises(ValueError, match="workspace_sid"):
        await reopened.mark_complete_until("", 1)


async def test_old_events_are_deduplicated_beyond_the_duplicate_window(make_log: MakeLog) -> None:
    # Dated years ago, so no broker window can hold them: a re-append must still find the stored copy.
    log = await make_log()
    first = await log.append([ev(1, date=1000), ev(2, date=2000), ev(3, ws=WS2, date=1500)])
    again = await log.append([ev(2, date=2000), ev(4, date=2500), ev(3, ws=WS2, date=1500)])
    assert [(r.seq, r.duplicate) for r in again] == [(first[1].seq, True), (4, False), (first[2].seq, True)]
    async with log.dedup_scope(WS1, 1500):
        scoped = await log.append([ev(2, date=2000), ev(5, date=3000), ev(4, date=2500), ev(5, date=3000)])
    assert [(r.seq, r.duplicate) for r in scoped] == [(2, True), (5, False), (4, True), (5, True)]
    assert [e.sid for e in await _all(log)] == [ev(n).sid for n in (1, 2, 3, 4, 5)]


async def test_reopen_keeps_log_id_and_continues_numbering(make_log: MakeLog) -> None:
    log = await make_log()
    log_id = log.log_id
    await log.append([ev(1), ev(2)])
    await log.close()

    reopened = await make_log()
    assert reopened.log_id == log_id
    assert await reopened.last_seq() == 2
    assert [(r.seq, r.duplicate) for r in await reopened.append([ev(2), ev(3)])] == [(2, True), (3, False)]
    assert await reopened.get(ev(1).sid) is not None

    other = await make_log("other")
    assert other.log_id != log_id


async def test_log_id_and_operations_before_open_fail_clearly(make_log: MakeLog) -> None:
    log = make_log.build("unopened")  # type: ignore[attr-defined]
    with pytest.raises(EventLogClosed, match="not been opened"):
        _ = log.log_id
    with pytest.raises(EventLogClosed, match="not open"):
        await log.append([ev(1)])
    await log.close()  # closing a log never opened is harmless
    with pytest.raises(EventLogError, match="opened once"):
        await log.open()


async def test_append_rejects_items_that_are_not_new_events(make_log: MakeLog) -> None:
    log = await make_log()
    with pytest.raises(TypeError, match="NewEvent"):
        await log.append([ev(1), {"sid": "EV2"}])  # type: ignore[list-item]
    assert await log.last_seq() == 0  # nothing of the bad call was stored


async def _until(predicate: Callable[[], bool]) -> None:
    async def loop() -> None:
        while not predicate():
            await asyncio.sleep(0.005)

    await asyncio.wait_for(loop(), 10)


async def test_commit_listeners_get_every_new_event_once_in_seq_order(make_log: MakeLog) -> None:
    log = await make_log()
    seen: list[int] = []
    assert log.add_commit_listener(lambda rows: seen.extend(r.seq for r in rows)) is True
    await log.append([ev(1), ev(2)])
    await log.append([ev(2), ev(3)])  # ev(2) is a duplicate: only ev(3) is new
    await log.append([ev(1)])
    await asyncio.gather(*(log.append([ev(n)]) for n in range(4, 40)))
    await _until(lambda: len(seen) >= 39)
    assert seen == list(range(1, 40))
    handed: list = []
    log.add_commit_listener(handed.extend)
    await log.append([ev(40)])
    await _until(lambda: len(handed) >= 1)
    assert handed == await log.read_after(39, limit=10)


async def test_a_failing_listener_does_not_stop_other_listeners(make_log: MakeLog) -> None:
    log = await make_log()
    got: list[int] = []

    def broken(rows) -> None:
        raise RuntimeError("listener bug")

    log.add_commit_listener(broken)
    log.add_commit_listener(lambda rows: got.extend(r.seq for r in rows))
    results = await log.append([ev(1), ev(2)])
    assert [r.seq for r in results] == [1, 2]
    await _until(lambda: len(got) >= 2)
    assert got == [1, 2]


async def test_duplicates_are_found_across_many_sids(make_log: MakeLog) -> None:
    log = await make_log()
    await log.append([ev(n) for n in range(0, 1200, 2)])
    results = await log.append([ev(n) for n in range(1200)])
    duplicates = [n for n, r in zip(range(1200), results) if r.duplicate]
    assert duplicates == list(range(0, 1200, 2))


async def test_close_finishes_appends_already_accepted(make_log: MakeLog) -> None:
    log = await make_log()
    # gather starts these in order: all 50 appends are under way before close() is.
    *results, _ = await asyncio.gather(*(log.append([ev(n)]) for n in range(50)), log.close())
    assert sorted(rs[0].seq for rs in results) == list(range(1, 51))
    with pytest.raises(EventLogClosed):
        await log.append([ev(99)])
    with pytest.raises(EventLogClosed):
        await log.read_after(0, limit=1)
    await log.close()  # idempotent
    reopened = await make_log()
    assert [e.seq for e in await _all(reopened)] == list(range(1, 51))
