"""The SQLite log's pruner on its own, one chunk at a time, on a real log file: how its chunks grow and shrink,
when it rests between them (and for how long), when it answers, and what a caller that gave up gets.

The writer thread normally calls step(); here the test does, with the real job queue and a checkpointer that
never holds prunes back (its own tests are in test_sqlite_checkpointer.py)."""

from __future__ import annotations

import concurrent.futures
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskrouter_gateway.eventlog.log import EventLogWriteError, NewEvent, Retention
from taskrouter_gateway.eventlog.sqlite.jobs import JobQueue, Prune
from taskrouter_gateway.eventlog.sqlite.log import SqliteEventLog
from taskrouter_gateway.eventlog.sqlite import pruner as pruner_module
from taskrouter_gateway.eventlog.sqlite.pruner import Pruner
from taskrouter_gateway.eventlog.sqlite.schema import LogState, open_for_writing, row

EVENTS = 3000
WAIT = 10.0  # an upper bound for a hung thread; the waits below end on a condition


class QuietWal:
    """A checkpointer whose WAL is never long (prunes never pause for it) unless holds_prunes is set."""

    def __init__(self, *, holds_prunes: bool = False) -> None:
        self.holds_prunes = holds_prunes
        self.prune_writes = 0
        self.woken = 0

    def wake(self) -> None:
        self.woken += 1

    def catch_up(self, conn: sqlite3.Connection) -> None:
        pass

    def note_write(self, *, prune_chunk: bool = False) -> None:
        self.prune_writes += prune_chunk


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A log file holding EVENTS events, written once by the real log."""
    import asyncio

    path = tmp_path_factory.mktemp("pruner") / "events.db"

    async def fill() -> None:
        log = SqliteEventLog(path, retention=Retention(max_age_ms=None))
        await log.open()
        events = [NewEvent(f"EV{n:032d}", "WS" + "1" * 32, "task.created", "", 1_000 + n, b"x" * 10)
                  for n in range(EVENTS)]
        await log.append(events)
        await log.close()

    asyncio.run(fill())
    return path


@pytest.fixture
def db(template: Path, tmp_path: Path) -> Iterator[tuple[sqlite3.Connection, LogState]]:
    path = tmp_path / "events.db"
    path.write_bytes(template.read_bytes())
    conn, state = open_for_writing(path, "NORMAL", lambda: 0)
    yield conn, state
    conn.close()


def _pruner(retention: Retention, jobs: JobQueue, *, chunk_ms: float = 60_000.0, rest: float = 0.0,
            chunk: int = 5000, wal: QuietWal | None = None) -> Pruner:
    return Pruner(retention, chunk=chunk, chunk_ms=chunk_ms, rest=rest, clock_ms=lambda: 0, jobs=jobs,
                  wal=wal or QuietWal())  # type: ignore[arg-type]


def _run(pruner: Pruner, jobs: JobQueue, conn: sqlite3.Connection, state: LogState) -> tuple[Prune, list[int]]:
    """Steps a prune until it is answered, as the writer does when nothing else is queued; with the rows it had
    removed after each chunk."""
    job = Prune(concurrent.futures.Future())
    pruner.step(conn, job, state)
    removed = [job.removed]
    while not job.future.done():
        requeued = jobs.poll()
        assert requeued is job, "a prune with rest=0 that is not done goes straight back to the queue"
        pruner.step(conn, job, state)
        removed.append(job.removed)
    return job, removed


def _first_chunk(db, retention: Retention, *, closing: bool = False, **options) -> tuple[Pruner, JobQueue, Prune]:
    """A pruner (see _pruner for the options) and a new prune of `retention` after the prune's first step."""
    conn, state = db
    jobs = JobQueue()
    pruner = _pruner(retention, jobs, **options)
    if closing:
        pruner.close()
    job = Prune(concurrent.futures.Future())
    pruner.step(conn, job, state)
    return pruner, jobs, job


def _left(conn: sqlite3.Connection) -> int:
    return row(conn, "SELECT count(*) FROM events")[0]


def test_a_fresh_pruner_has_run_nothing(db) -> None:
    pruner = _pruner(Retention(max_age_ms=None, max_rows=10), JobQueue())
    assert (pruner.pruned, pruner.chunks, pruner.pauses, pruner.longest_chunk_s, pruner.running) == (0, 0, 0, 0.0,
                                                                                                     False)


def test_chunks_start_at_256_rows_and_grow_by_half_while_they_are_cheap(db) -> None:
    conn, state = db
    jobs = JobQueue()
    pruner = _pruner(Retention(max_age_ms=None, max_rows=EVENTS - 2920), jobs, chunk_ms=900)
    job, removed = _run(pruner, jobs, conn, state)
    # 256, then half as much again each chunk while each takes well under 600 ms (384, 576, 864), and the
    # fifth (1,296 rows) stops inside at the boundary.
    assert removed == [256, 640, 1216, 2080, 2920]
    assert job.future.result() == 2920 == EVENTS - _left(conn)
    assert pruner.chunks == 5 and pruner.pruned == 2920 and not pruner.running
    assert 0 < pruner.longest_chunk_s < 0.6


def test_chunks_shrink_to_64_rows_when_each_takes_longer_than_asked(db) -> None:
    conn, state = db
    jobs = JobQueue()
    # A chunk may take one microsecond: every chunk runs long, so after the first (256 rows) each is 64.
    pruner = _pruner(Retention(max_age_ms=None, max_rows=EVENTS - 2920), jobs, chunk_ms=0.001)
    job, removed = _run(pruner, jobs, conn, state)
    assert job.future.result() == 2920
    assert removed[:4] == [256, 320, 384, 448] and removed[-1] == 2920
    assert pruner.chunks == len(removed) == 1 + -(-(2920 - 256) // 64)


def test_a_chunk_never_exceeds_prune_chunk(db) -> None:
    conn, state = db
    jobs = JobQueue()
    pruner = _pruner(Retention(max_age_ms=None, max_rows=EVENTS - 500), jobs, chunk=100)
    _, removed = _run(pruner, jobs, conn, state)
    # Five full chunks of 100; the last ended on a chunk's last row, so one more look finds the boundary.
    assert removed == [100, 200, 300, 400, 500, 500] and pruner.chunks == 5


def test_a_prune_with_nothing_to_remove_commits_nothing(db) -> None:
    conn, state = db
    jobs = JobQueue()
    pruner = _pruner(Retention(max_age_ms=None, max_bytes=10**9), jobs)  # far under the cap
    job, _ = _run(pruner, jobs, conn, state)
    assert job.future.result() == 0 and pruner.chunks == 0 and _left(conn) == EVENTS


def test_a_boundary_on_a_full_chunks_last_row_answers_after_that_chunk(db) -> None:
    # The first chunk holds 256 rows; keeping the last EVENTS - 255 puts the boundary on its last row.
    pruner, jobs, job = _first_chunk(db, Retention(max_age_ms=None, max_rows=EVENTS - 255), rest=1e6)
    assert job.future.done() and job.future.result() == 255
    assert jobs.poll() is None and jobs.take_parked() is None and not pruner.running


def test_between_chunks_a_prune_rests_parked_and_counts_as_running(db) -> None:
    pruner, jobs, job = _first_chunk(db, Retention(max_age_ms=None, max_rows=10), rest=1e6)
    # Parked (out of the queue, so appends go first) for a million times the chunk's cost: appends committed
    # now are committed during a prune.
    assert not job.future.done() and jobs.poll() is None
    assert pruner.running
    assert jobs.take_parked() is job
    for timer in [t for t in threading.enumerate() if isinstance(t, threading.Timer)]:
        timer.cancel()


class RecordedTimers:
    """threading.Timer as the pruner uses it, recorded and never started: a rest's length and kind are then
    read off without racing the timer."""

    def __init__(self) -> None:
        self.made: list[RecordedTimers.Timer] = []
        outer = self

        class Timer:
            def __init__(self, interval: float, function) -> None:
                self.interval, self.function, self.daemon, self.started = interval, function, False, False
                outer.made.append(self)

            def start(self) -> None:
                self.started = True

        self.Timer = Timer


@pytest.fixture
def timers(monkeypatch: pytest.MonkeyPatch) -> RecordedTimers:
    recorded = RecordedTimers()
    monkeypatch.setattr(pruner_module.threading, "Timer", recorded.Timer)
    return recorded


@pytest.mark.parametrize("rest", [1.0, 2.5, 0.25])
def test_a_rest_lasts_as_long_as_the_chunk_took_times_prune_rest(db, timers, rest) -> None:
    pruner, jobs, job = _first_chunk(db, Retention(max_age_ms=None, max_rows=10), rest=rest)
    [timer] = timers.made
    assert timer.started and timer.daemon  # a resting prune never keeps the process from exiting
    assert timer.interval == pytest.approx(pruner.longest_chunk_s * rest)
    assert jobs.poll() is None  # parked, not queued
    timer.function()  # the rest ends: the prune is back in the queue
    assert jobs.poll() is job


def test_with_no_rest_or_once_closing_a_prune_goes_straight_back_to_the_queue(db, timers) -> None:
    for rest, closing in ((0.0, False), (1e6, True)):
        pruner, jobs, job = _first_chunk(db, Retention(max_age_ms=None, max_rows=10), rest=rest, closing=closing)
        assert jobs.poll() is job and jobs.take_parked() is None and pruner.running, (rest, closing)
    assert timers.made == []


def test_a_prune_whose_caller_gave_up_before_it_started_removes_nothing(db) -> None:
    conn, state = db
    jobs = JobQueue()
    pruner = _pruner(Retention(max_age_ms=None, max_rows=10), jobs)
    job = Prune(concurrent.futures.Future())
    assert job.future.cancel()
    pruner.step(conn, job, state)
    assert _left(conn) == EVENTS and pruner.chunks == 0 and jobs.poll() is None


def test_a_chunk_that_fails_answers_the_error_and_the_prune_stops_running(db) -> None:
    conn, state = db
    pruner, jobs, job = _first_chunk(db, Retention(max_age_ms=None, max_rows=10), rest=1e6)
    assert pruner.running and jobs.take_parked() is job
    conn.execute("DROP TABLE events")  # the next chunk's statements fail
    pruner.step(conn, job, state)
    with pytest.raises(EventLogWriteError, match="prune failed"):
        job.future.result(timeout=0)
    assert not pruner.running


def test_a_log_one_byte_over_max_bytes_drops_its_oldest_event(db) -> None:
    conn, state = db
    jobs = JobQueue()
    pruner = _pruner(Retention(max_age_ms=None, max_bytes=state.total_bytes - 1), jobs)
    job, _ = _run(pruner, jobs, conn, state)
    assert job.future.result() == 1 and _left(conn) == EVENTS - 1
    assert row(conn, "SELECT min(seq) FROM events")[0] == 2


def test_while_the_checkpointer_holds_prunes_a_prune_pauses_parked_and_wakes_it(db) -> None:
    conn, state = db
    wal = QuietWal(holds_prunes=True)
    pruner, jobs, job = _first_chunk(db, Retention(max_age_ms=None, max_rows=10), wal=wal)
    assert jobs.take_parked() is job and jobs.poll() is None  # the checkpointer's pass puts it back
    assert pruner.running and pruner.pauses == 1 and wal.woken == 1
    assert pruner.chunks == 0 and _left(conn) == EVENTS
    # Once closing it no longer waits for the checkpointer.
    pruner.close()
    pruner.step(conn, job, state)
    assert pruner.chunks == 1 and pruner.pauses == 1 and jobs.poll() is job
