"""The SQLite event log beyond the EventLog contract (test_event_log_contract): group commit, retention, files, locks."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from taskrouter_gateway.eventlog.log import (
    DAY_MS,
    EventLogClosed,
    EventLogOpenError,
    NewEvent,
    Retention,
    run_retention,
)
from taskrouter_gateway.eventlog.sqlite import checkpointer
from taskrouter_gateway.eventlog.sqlite.log import SqliteEventLog

WS1 = "WS" + "1" * 32
WS2 = "WS" + "2" * 32
T0 = 1_760_000_000_000  # a fixed "now" in epoch ms


class ManualClock:
    """The log's received_ms clock, moved by the test instead of waited for."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def ev(n: int, *, ws: str = WS1, date: int | None = None, payload: bytes | None = None) -> NewEvent:
    sid = f"EV{n:032d}"
    return NewEvent(
        sid=sid,
        workspace_sid=ws,
        event_type="worker.activity.update",
        resource_sid=f"WK{n:032d}",
        event_date_ms=T0 + n if date is None else date,
        payload=payload if payload is not None else f"payload-{sid}".encode(),
    )


MakeLog = Callable[..., Awaitable[SqliteEventLog]]


@pytest.fixture
async def make_log(tmp_path: Path) -> AsyncIterator[MakeLog]:
    """Opens logs (default file events.db in tmp_path); closes whatever is still open at teardown."""
    opened: list[SqliteEventLog] = []

    async def make(name: str = "events.db", **options) -> SqliteEventLog:
        log = SqliteEventLog(tmp_path / name, **options)
        await log.open()
        opened.append(log)
        return log

    yield make
    for log in opened:
        await log.close()


async def _all(log: SqliteEventLog, workspace_sid: str | None = None) -> list:
    return await log.read_after(0, limit=100_000, workspace_sid=workspace_sid)


# -- ordering and dedup ------------------------------------------------------------------------------


async def test_appends_get_gap_free_increasing_seqs_and_read_back_whole(make_log: MakeLog) -> None:
    clock = ManualClock()
    log = await make_log(clock_ms=clock)
    assert await log.last_seq() == 0 and await log.first_seq() == 1

    first = await log.append([ev(1), ev(2), ev(3)])
    clock.now += 5
    second = await log.append([ev(4)])
    assert [(r.seq, r.duplicate) for r in first + second] == [(1, False), (2, False), (3, False), (4, False)]
    assert await log.last_seq() == 4 and await log.first_seq() == 1

    stored = await _all(log)
    assert [e.seq for e in stored] == [1, 2, 3, 4]
    for n, e in zip(range(1, 5), stored):
        want = ev(n)
        assert (e.sid, e.workspace_sid, e.event_type, e.resource_sid, e.event_date_ms, e.payload) == (
            want.sid, want.workspace_sid, want.event_type, want.resource_sid, want.event_date_ms, want.payload
        )
    assert [e.received_ms for e in stored] == [T0, T0, T0, T0 + 5]
    assert await log.get(ev(3).sid) == stored[2]
    assert await log.get("EV-not-there") is None


async def test_received_ms_never_goes_back_when_the_clock_does(make_log: MakeLog) -> None:
    clock = ManualClock()
    log = await make_log(clock_ms=clock)
    await log.append([ev(1)])
    clock.now -= 60_000  # NTP stepped the clock back
    await log.append([ev(2)])
    assert [e.received_ms for e in await _all(log)] == [T0, T0]


async def test_duplicate_in_a_later_append_returns_the_original_seq(make_log: MakeLog) -> None:
    log = await make_log()
    await log.append([ev(1), ev(2)])
    again = await log.append([ev(2, payload=b"a retry with other bytes"), ev(3)])
    assert [(r.seq, r.duplicate) for r in again] == [(2, True), (3, False)]
    assert [e.seq for e in await _all(log)] == [1, 2, 3]
    stored = await log.get(ev(2).sid)
    assert stored is not None and stored.payload == ev(2).payload  # the first copy wins
    assert log.stats.appended == 3 and log.stats.duplicates == 1


async def test_empty_append_writes_nothing(make_log: MakeLog) -> None:
    log = await make_log()
    assert await log.append([]) == []
    assert log.stats.commits == 0 and await log.last_seq() == 0


# -- group commit ----------------------------------------------------------------------------------


@pytest.mark.parametrize("synchronous", ["FULL", "NORMAL"])
async def test_200_concurrent_appends_share_transactions_and_all_survive_a_reopen(
    make_log: MakeLog, synchronous: str
) -> None:
    log = await make_log(synchronous=synchronous)
    results = await asyncio.gather(*(log.append([ev(n)]) for n in range(200)))
    seqs = [rs[0].seq for rs in results]
    assert sorted(seqs) == list(range(1, 201))
    assert not any(rs[0].duplicate for rs in results)
    stats = log.stats
    assert stats.appended == 200
    assert 1 <= stats.commits < 200, f"expected group commit, got {stats.commits} transactions for 200 appends"
    await log.close()

    reopened = await make_log(synchronous=synchronous)
    stored = await _all(reopened)
    assert [e.seq for e in stored] == list(range(1, 201))
    by_sid = {e.sid: e.seq for e in stored}
    assert all(by_sid[ev(n).sid] == seq for n, seq in zip(range(200), seqs))


async def test_max_batch_caps_the_events_in_one_transaction(make_log: MakeLog) -> None:
    log = await make_log(max_batch=10)
    await asyncio.gather(*(log.append([ev(n)]) for n in range(200)))
    assert log.stats.commits >= 20
    assert [e.seq for e in await _all(log)] == list(range(1, 201))


async def test_readers_never_see_a_gap_while_appends_commit(make_log: MakeLog) -> None:
    log = await make_log()
    snapshots: list[list[int]] = []

    async def reader() -> None:
        for _ in range(20):
            snapshots.append([e.seq for e in await _all(log)])

    appends = [log.append([ev(n)]) for n in range(150)]
    await asyncio.gather(reader(), reader(), *appends)
    for seqs in snapshots:
        assert seqs == list(range(1, len(seqs) + 1))
    assert [e.seq for e in await _all(log)] == list(range(1, 151))


# -- reads -------------------------------------------------------------------------------------------


# -- retention -----------------------------------------------------------------------------------------


async def test_retention_by_age_counts_from_receipt_and_never_restarts_numbering(make_log: MakeLog) -> None:
    clock = ManualClock()
    log = await make_log(clock_ms=clock, retention=Retention(max_age_ms=30 * DAY_MS))
    await log.append([ev(1), ev(2), ev(3)])
    clock.now += 10 * DAY_MS
    # A backfilled event dated long ago: its age counts from when the log took it.
    await log.append([ev(4, date=T0 - 365 * DAY_MS), ev(5)])

    assert await log.prune() == 0
    clock.now = T0 + 31 * DAY_MS
    assert await log.prune() == 3
    assert [e.seq for e in await _all(log)] == [4, 5]
    assert await log.first_seq() == 4 and await log.last_seq() == 5
    assert await log.get(ev(1).sid) is None
    assert log.stats.pruned == 3

    clock.now = T0 + 41 * DAY_MS
    assert await log.prune() == 2
    assert await _all(log) == []
    assert await log.first_seq() == 6 and await log.last_seq() == 5
    assert await log.seq_at_or_after(0) == 5
    assert [r.seq for r in await log.append([ev(6)])] == [6]
    await log.close()

    reopened = await make_log(clock_ms=clock)
    assert await reopened.last_seq() == 6
    assert [r.seq for r in await reopened.append([ev(7)])] == [7]


async def test_retention_by_rows_keeps_the_newest(make_log: MakeLog) -> None:
    log = await make_log(retention=Retention(max_age_ms=None, max_rows=5))
    await log.append([ev(n) for n in range(1, 13)])
    assert await log.prune() == 7
    assert [e.seq for e in await _all(log)] == [8, 9, 10, 11, 12]
    assert await log.prune() == 0


async def test_retention_by_bytes_counts_payload_bytes_across_restarts(make_log: MakeLog) -> None:
    policy = Retention(max_age_ms=None, max_bytes=450)
    log = await make_log(retention=policy)
    await log.append([ev(n, payload=bytes(100)) for n in range(1, 8)])  # 700 bytes
    assert await log.prune() == 3  # 400 left
    assert [e.seq for e in await _all(log)] == [4, 5, 6, 7]
    await log.close()

    # The byte total is persisted: after a restart the next prune still knows 400 bytes are held.
    reopened = await make_log(retention=policy)
    await reopened.append([ev(8, payload=bytes(30)), ev(9, payload=bytes(60))])  # 490 bytes
    assert await reopened.prune() == 1  # dropping seq 4 (100 bytes) gets to 390
    assert [e.seq for e in await _all(reopened)] == [5, 6, 7, 8, 9]


async def test_prune_runs_in_chunks_that_let_appends_through(make_log: MakeLog) -> None:
    log = await make_log(retention=Retention(max_age_ms=None, max_rows=2), prune_chunk=3)
    await log.append([ev(n) for n in range(1, 21)])
    commits_before = log.stats.commits
    # The prune is queued first, so its boundary (keep the newest 2 of 20) is fixed before the appends land.
    removed, *appended = await asyncio.gather(log.prune(), *(log.append([ev(n)]) for n in range(21, 31)))
    assert removed == 18
    assert sorted(rs[0].seq for rs in appended) == list(range(21, 31))
    assert [e.seq for e in await _all(log)] == list(range(19, 31))
    assert log.stats.commits > commits_before


MINUTE_MS = 60_000


async def test_age_boundary_is_exact_after_the_wall_clock_steps_back(make_log: MakeLog) -> None:
    # The age boundary is a binary search over seq: right only because received_ms never decreases with seq,
    # also when the clock steps back (within a run and across a restart) and many events share one received_ms.
    clock = ManualClock()
    policy = Retention(max_age_ms=DAY_MS)
    log = await make_log(clock_ms=clock, retention=policy)
    for n in range(1, 51):  # one a minute
        clock.now = T0 + n * MINUTE_MS
        await log.append([ev(n)])
    for n in range(51, 81):  # the clock steps back an hour and runs on: these are clamped to T0 + 50 min
        clock.now = T0 - 10 * MINUTE_MS + (n - 50) * MINUTE_MS
        await log.append([ev(n)])
    await log.close()
    log = await make_log(clock_ms=clock, retention=policy)  # still behind after a restart: clamped too
    await log.append([ev(n) for n in range(81, 91)])
    for n in range(91, 101):  # the clock is past the clamp again
        clock.now = T0 + (n - 40) * MINUTE_MS
        await log.append([ev(n)])

    received = {e.seq: e.received_ms for e in await _all(log)}
    assert list(received.values()) == sorted(received.values())
    assert {received[n] for n in range(50, 91)} == {T0 + 50 * MINUTE_MS}

    def first_kept(cutoff: int) -> int:
        return next((seq for seq, at in received.items() if at >= cutoff), 101)

    cutoffs = [T0 + 10 * MINUTE_MS + 1, T0 + 50 * MINUTE_MS - 1, T0 + 50 * MINUTE_MS, T0 + 50 * MINUTE_MS + 1,
               T0 + 55 * MINUTE_MS, T0 + 60 * MINUTE_MS, T0 + 61 * MINUTE_MS]
    for cutoff in cutoffs:
        before = await log.first_seq()
        clock.now = cutoff + DAY_MS
        assert await log.prune() == first_kept(cutoff) - before, f"cutoff {cutoff - T0} ms after T0"
        assert await log.first_seq() == first_kept(cutoff)
    assert await log.first_seq() == 101 and await log.last_seq() == 100


async def test_pruning_a_large_backlog_lets_appends_commit_between_its_chunks(make_log: MakeLog) -> None:
    log = await make_log(retention=Retention(max_age_ms=None, max_rows=10), prune_chunk=64)
    for start in range(1, 5001, 1000):
        await log.append([ev(n) for n in range(start, start + 1000)])
    appended: list = []

    async def webhooks() -> None:  # one append after another, as long as the prune runs
        n = 5001
        while not pruning.done():
            appended.extend(await log.append([ev(n)]))
            n += 1

    pruning = asyncio.ensure_future(log.prune())
    appending = asyncio.ensure_future(webhooks())  # starts after the prune task: the prune is queued first
    assert await pruning == 4990  # the boundary (keep the newest 10 of 5,000) was fixed at the first chunk
    await appending
    stats = log.stats
    assert stats.prune_chunks >= 4990 // 64
    assert stats.commits_during_prune > 0, "no append committed between the prune's chunks"
    assert await log.first_seq() == 4991
    assert [e.seq for e in await _all(log)] == list(range(4991, 4991 + 10 + len(appended)))


async def test_a_prune_pauses_while_the_wal_is_long_and_the_wal_restarts(
    make_log: MakeLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The checkpointer, not the writer, copies the WAL; a prune outpacing it waits between chunks until only
    # appends' frames are left, which the writer copies so that its next write restarts the WAL. A WAL of 16
    # frames counts as long here, so a 5,000-event prune goes through that cycle again and again.
    monkeypatch.setattr(checkpointer, "_WAL_RESTART_FRAMES", 16)
    monkeypatch.setattr(checkpointer, "_CHECKPOINT_PAUSE_S", 0.0)  # passes back to back: many per prune
    # The checkpointer's flush as on a busy disk, so chunks land during its passes and the prune meets a long
    # WAL (with an instant flush a pass could always finish first, and no pause was seen: a flaky test).
    real_fdatasync = os.fdatasync

    def busy_disk(fd: int) -> None:
        time.sleep(0.005)
        real_fdatasync(fd)

    monkeypatch.setattr(checkpointer.os, "fdatasync", busy_disk)
    log = await make_log(retention=Retention(max_age_ms=None, max_rows=10), prune_chunk=64)
    for start in range(1, 5001, 1000):
        await log.append([ev(n, payload=bytes(500)) for n in range(start, start + 1000)])
    appended: list = []

    async def webhooks() -> None:
        n = 5001
        while not pruning.done():
            appended.extend(await log.append([ev(n)]))
            n += 1

    pruning = asyncio.ensure_future(log.prune())
    appending = asyncio.ensure_future(webhooks())
    assert await asyncio.wait_for(pruning, 60) == 4990
    await appending
    stats = log.stats
    assert stats.prune_pauses > 0 and stats.wal_restarts > 0 and stats.checkpoints > 0, stats
    assert [e.seq for e in await _all(log)] == list(range(4991, 4991 + 10 + len(appended)))
    await log.close()
    reopened = await make_log()  # what the checkpoints copied reads back whole after a reopen
    assert [e.seq for e in await _all(reopened)] == list(range(4991, 4991 + 10 + len(appended)))


async def test_byte_limit_is_found_chunk_by_chunk(make_log: MakeLog) -> None:
    # 20 x 100 bytes under a 1,000-byte cap, 3 rows a transaction: 10 rows go, over 4 chunks (3 + 3 + 3 + 1).
    log = await make_log(retention=Retention(max_age_ms=None, max_rows=15, max_bytes=1000), prune_chunk=3)
    await log.append([ev(n, payload=bytes(100)) for n in range(1, 21)])
    assert await log.prune() == 10
    assert log.stats.prune_chunks == 4
    assert await log.first_seq() == 11
    assert await log.prune() == 0


async def test_no_retention_limits_means_prune_removes_nothing(make_log: MakeLog) -> None:
    clock = ManualClock()
    log = await make_log(clock_ms=clock, retention=Retention(max_age_ms=None))
    await log.append([ev(1)])
    clock.now += 3650 * DAY_MS
    assert await log.prune() == 0
    assert len(await _all(log)) == 1


async def test_run_retention_prunes_on_its_interval_until_the_log_closes(make_log: MakeLog) -> None:
    log = await make_log(retention=Retention(max_age_ms=None, max_rows=1))
    await log.append([ev(1), ev(2), ev(3)])
    passes: asyncio.Queue[int] = asyncio.Queue()
    task = asyncio.create_task(run_retention(log, 0.01, on_pass=passes.put_nowait))
    try:
        assert await asyncio.wait_for(passes.get(), 5) == 2
        assert [e.seq for e in await _all(log)] == [3]
        await log.close()
        await asyncio.wait_for(task, 5)  # a closed log ends the loop instead of failing every tick
    finally:
        task.cancel()


async def test_run_retention_rejects_a_bad_interval(make_log: MakeLog) -> None:
    log = await make_log()
    with pytest.raises(ValueError, match="interval_seconds"):
        await run_retention(log, 0)


# -- lifecycle -----------------------------------------------------------------------------------------


async def test_reopen_keeps_log_id_and_continues_numbering(make_log: MakeLog) -> None:
    log = await make_log()
    log_id = log.log_id
    assert len(log_id) == 16
    await log.append([ev(1), ev(2)])
    await log.close()

    reopened = await make_log()
    assert reopened.log_id == log_id
    assert await reopened.last_seq() == 2
    assert [(r.seq, r.duplicate) for r in await reopened.append([ev(2), ev(3)])] == [(2, True), (3, False)]

    other = await make_log("other.db")
    assert other.log_id != log_id


async def test_close_lets_a_chunked_prune_finish(make_log: MakeLog) -> None:
    log = await make_log(retention=Retention(max_age_ms=None, max_rows=1), prune_chunk=2)
    await log.append([ev(n) for n in range(1, 12)])
    # The prune's later chunks queue up behind close(); they must still run and resolve the prune.
    removed, _ = await asyncio.wait_for(asyncio.gather(log.prune(), log.close()), 10)
    assert removed == 10
    reopened = await make_log()
    assert [e.seq for e in await _all(reopened)] == [11]


async def test_concurrent_close_calls_all_wait_for_the_flush(make_log: MakeLog) -> None:
    log = await make_log()
    pending = asyncio.ensure_future(log.append([ev(1)]))
    await asyncio.gather(log.close(), log.close())
    assert pending.done() and (await pending)[0].seq == 1


async def test_second_open_of_the_same_file_is_refused_until_the_first_closes(make_log: MakeLog) -> None:
    first = await make_log()
    with pytest.raises(EventLogOpenError, match="already open"):
        await make_log()
    await first.close()
    second = await make_log()
    assert second.log_id == first.log_id


async def test_open_missing_directory(tmp_path: Path) -> None:
    log = SqliteEventLog(tmp_path / "no-such-dir" / "events.db")
    with pytest.raises(EventLogOpenError, match="directory .*no-such-dir does not exist"):
        await log.open()


async def test_open_a_directory(tmp_path: Path) -> None:
    (tmp_path / "events.db").mkdir()
    with pytest.raises(EventLogOpenError, match="is a directory"):
        await SqliteEventLog(tmp_path / "events.db").open()


async def test_open_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    path.write_bytes(b"this is not SQLite at all " * 400)
    log = SqliteEventLog(path)
    with pytest.raises(EventLogOpenError, match="cannot be opened: file is not a database"):
        await log.open()
    assert path.read_bytes() == b"this is not SQLite at all " * 400  # refused without touching it
    # The failed open released its lock and leaves a closed log.
    with pytest.raises(EventLogClosed):
        await log.append([ev(1)])


async def test_open_a_corrupted_event_log(make_log: MakeLog, tmp_path: Path) -> None:
    log = await make_log()
    await log.append([ev(n) for n in range(50)])
    await log.close()
    path = tmp_path / "events.db"
    data = bytearray(path.read_bytes())
    data[0:16] = b"\x00" * 16  # the header's magic string
    path.write_bytes(bytes(data))
    with pytest.raises(EventLogOpenError, match="file is not a database"):
        await SqliteEventLog(path).open()


async def test_open_someone_elses_sqlite_database(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY)")
    conn.close()
    with pytest.raises(EventLogOpenError, match="SQLite database but not an event log"):
        await SqliteEventLog(path).open()


async def test_open_an_event_log_from_a_newer_schema(make_log: MakeLog, tmp_path: Path) -> None:
    log = await make_log()
    await log.close()
    conn = sqlite3.connect(tmp_path / "events.db")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(EventLogOpenError, match="schema version 99"):
        await SqliteEventLog(tmp_path / "events.db").open()


async def test_open_an_event_log_whose_state_row_is_gone(make_log: MakeLog, tmp_path: Path) -> None:
    log = await make_log()
    await log.append([ev(1)])
    await log.close()
    conn = sqlite3.connect(tmp_path / "events.db")
    conn.execute("DELETE FROM log_state")
    conn.commit()
    conn.close()
    with pytest.raises(EventLogOpenError, match="damaged: its state row is missing"):
        await SqliteEventLog(tmp_path / "events.db").open()


# -- bad arguments -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(path=":memory:"), "must name a database file"),
        (dict(path=""), "must name a database file"),
        (dict(synchronous="OFF"), "synchronous must be"),
        (dict(max_batch=0), "max_batch"),
        (dict(readers=0), "readers"),
        (dict(prune_chunk=-1), "prune_chunk"),
        (dict(prune_chunk_ms=0), "prune_chunk_ms"),
        (dict(prune_rest=-1), "prune_rest"),
    ],
)
def test_constructor_rejects_bad_options(tmp_path: Path, kwargs: dict, message: str) -> None:
    path = kwargs.pop("path", tmp_path / "events.db")
    with pytest.raises(ValueError, match=message):
        SqliteEventLog(path, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(max_rows=0), ValueError, "max_rows must be > 0"),
        (dict(max_bytes=-5), ValueError, "max_bytes must be > 0"),
        (dict(max_age_ms=1.5), TypeError, "max_age_ms must be an int"),
    ],
)
def test_retention_rejects_bad_limits(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        Retention(**kwargs)


@pytest.mark.parametrize(
    ("field", "value", "error", "message"),
    [
        ("sid", "", ValueError, "sid must not be empty"),
        ("sid", None, TypeError, "sid must be a str"),
        ("workspace_sid", "", ValueError, "workspace_sid must not be empty"),
        ("event_type", "", ValueError, "event_type must not be empty"),
        ("resource_sid", 5, TypeError, "resource_sid must be a str"),
        ("event_date_ms", -1, ValueError, "event_date_ms must be >= 0"),
        ("event_date_ms", True, TypeError, "event_date_ms must be an int"),
        ("event_date_ms", "2024-01-01", TypeError, "event_date_ms must be an int"),
        ("payload", "text", TypeError, "payload must be bytes"),
        ("payload", bytearray(b"x"), TypeError, "payload must be bytes"),
    ],
)
def test_new_event_rejects_bad_fields(field: str, value: object, error: type, message: str) -> None:
    fields = dict(
        sid="EV1", workspace_sid=WS1, event_type="task.created", resource_sid="", event_date_ms=0, payload=b""
    )
    fields[field] = value
    with pytest.raises(error, match=message):
        NewEvent(**fields)


# -- commit listeners ------------------------------------------------------------------------------------


async def test_commit_listeners_get_each_commit_s_new_events_in_seq_order(make_log: MakeLog) -> None:
    log = await make_log()
    seen: list[list[int]] = []
    assert log.add_commit_listener(lambda rows: seen.append([r.seq for r in rows])) is True
    await log.append([ev(1), ev(2)])
    await log.append([ev(2), ev(3)])  # ev(2) is a duplicate: only ev(3) is new
    await log.append([ev(1)])  # nothing new: no call
    # Concurrent appends share commits; whatever the grouping, the listener sees every new seq once, in order.
    await asyncio.gather(*(log.append([ev(n)]) for n in range(4, 40)))
    assert seen[:2] == [[1, 2], [3]]
    assert [seq for rows in seen for seq in rows] == list(range(1, 40))
    stored = await _all(log)
    handed: list = []
    log.add_commit_listener(handed.extend)
    await log.append([ev(40)])
    assert handed == await log.read_after(39, limit=10) and len(stored) == 39


async def test_a_failing_listener_neither_loses_answers_nor_stops_other_listeners(make_log: MakeLog) -> None:
    log = await make_log()
    got: list[int] = []

    def broken(rows) -> None:
        raise RuntimeError("listener bug")

    log.add_commit_listener(broken)
    log.add_commit_listener(lambda rows: got.extend(r.seq for r in rows))
    results = await log.append([ev(1), ev(2)])
    assert [r.seq for r in results] == [1, 2] and got == [1, 2]


async def test_duplicates_are_found_across_many_sids_in_one_commit(make_log: MakeLog) -> None:
    # More sids than one IN (...) lookup takes: the lookup is chunked, and every duplicate is still found.
    log = await make_log()
    await log.append([ev(n) for n in range(0, 1200, 2)])
    results = await log.append([ev(n) for n in range(1200)])
    duplicates = [n for n, r in zip(range(1200), results) if r.duplicate]
    assert duplicates == list(range(0, 1200, 2))
    assert [r.seq for r in results if not r.duplicate] == list(range(601, 1201))


async def test_open_an_event_log_from_an_older_schema_is_refused_clearly(make_log: MakeLog, tmp_path: Path) -> None:
    log = await make_log()
    await log.close()
    conn = sqlite3.connect(tmp_path / "events.db")
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    with pytest.raises(EventLogOpenError, match="has schema version 1; this build reads 2"):
        await SqliteEventLog(tmp_path / "events.db").open()
