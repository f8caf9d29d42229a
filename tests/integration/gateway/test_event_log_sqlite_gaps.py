"""The SQLite event log where a full mutation run found no test looking: its lock file, its parts' edges.

Real files in tmp_path, a real log object; each test asserts what a caller (or an operator looking at the
files) can see."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from taskrouter_gateway.eventlog.log import (
    AppendResult,
    EventLogClosed,
    EventLogError,
    EventLogOpenError,
    EventLogWriteError,
    NewEvent,
    Retention,
)
from taskrouter_gateway.eventlog.sqlite import pruner
from taskrouter_gateway.eventlog.sqlite.log import SqliteEventLog

WS1 = "WS" + "1" * 32
T0 = 1_760_000_000_000


def ev(n: int, *, ws: str = WS1, payload: bytes | None = None) -> NewEvent:
    sid = f"EV{n:032d}"
    return NewEvent(sid=sid, workspace_sid=ws, event_type="worker.activity.update", resource_sid=f"WK{n:032d}",
                    event_date_ms=T0 + n, payload=payload if payload is not None else f"payload-{sid}".encode())


from test_event_log_sqlite import MakeLog, make_log  # noqa: E402,F401 - the SQLite log tests' fixture, shared


# -- the lock file (file_lock.py) ----------------------------------------------------------------------


async def test_a_lock_file_that_cannot_be_created_is_refused_clearly(tmp_path: Path) -> None:
    (tmp_path / "events.db.lock").mkdir()  # something in its place that cannot be opened for writing
    with pytest.raises(EventLogOpenError, match=r"cannot create lock file .*events\.db\.lock"):
        await SqliteEventLog(tmp_path / "events.db").open()
    assert not (tmp_path / "events.db").exists()  # refused before the database is touched


async def test_the_lock_file_is_readable_by_all_and_writable_by_its_owner_only(make_log: MakeLog,
                                                                                tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        await make_log()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "events.db.lock").stat().st_mode) == 0o644


# -- the reader pool (readers.py) ----------------------------------------------------------------------


async def test_newest_event_date_is_the_workspace_s_latest_date_whatever_the_append_order(make_log: MakeLog) -> None:
    log = await make_log()
    ws2 = "WS" + "2" * 32
    assert await log.newest_event_date_ms(WS1) is None  # a workspace the log never saw
    await log.append([ev(5), ev(9), ev(2)])  # dated T0+5, T0+9, T0+2: the newest is not the last appended
    await log.append([ev(50, ws=ws2)])
    assert await log.newest_event_date_ms(WS1) == T0 + 9
    assert await log.newest_event_date_ms(ws2) == T0 + 50
    with pytest.raises(ValueError, match="workspace_sid"):
        await log.newest_event_date_ms("")


def _helper_threads(path: Path) -> list[str]:
    """The log's reader and checkpointer threads (joined by close(); the writer thread only reports that it is
    done, a moment before it ends)."""
    return [t.name for t in threading.enumerate()
            if t.name.startswith((f"event-log-reader:{path.name}", f"event-log-checkpointer:{path.name}"))]


async def test_close_answers_the_reads_already_asked_for_then_ends_its_threads_and_files(make_log: MakeLog,
                                                                            tmp_path: Path) -> None:
    log = await make_log("readers.db")
    await log.append([ev(n, payload=b"x" * 200) for n in range(3000)])
    assert await log.first_seq() == 1 and len(_helper_threads(tmp_path / "readers.db")) == 2
    # More reads than reader threads: most are still queued when close() begins, and every one is answered.
    reads = [asyncio.ensure_future(log.read_after(0, limit=3000)) for _ in range(40)]
    await asyncio.sleep(0)  # let them reach the pool (one loop turn, no waiting on time)
    await log.close()
    assert [len(found) for found in await asyncio.gather(*reads)] == [3000] * 40
    assert _helper_threads(tmp_path / "readers.db") == []  # none left idling after close
    # Every connection closed: the last one to close copied the WAL back and removed it, and no descriptor is left.
    assert sorted(p.name for p in tmp_path.glob("readers.db*")) == ["readers.db", "readers.db.lock"]
    assert not [f.path for f in psutil.Process().open_files() if "readers.db" in f.path]


def test_a_process_that_never_closes_its_log_still_exits(tmp_path: Path) -> None:
    # The writer and checkpointer threads must not keep a process alive (a crash path, or a forgetful script):
    # what was acknowledged is durable already, and the next open recovers the WAL.
    script = f"""
import asyncio
from taskrouter_gateway.eventlog.log import NewEvent
from taskrouter_gateway.eventlog.sqlite import pruner
from taskrouter_gateway.eventlog.sqlite.log import SqliteEventLog

async def main():
    log = SqliteEventLog({str(tmp_path / "events.db")!r})
    await log.open()
    await log.append([NewEvent("EV{"0" * 32}", "{WS1}", "worker.activity.update", "", {T0}, b"x")])
    print("appended", flush=True)

asyncio.run(main())
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=20)
    assert run.returncode == 0 and "appended" in run.stdout.splitlines(), run.stderr[-2000:]


async def test_a_state_row_damaged_past_the_checks_fails_open_instead_of_hanging_it(tmp_path: Path) -> None:
    # Found by mutation testing: an error the writer thread did not expect at open (here a comparison of the
    # newest seq with a last_seq that is text) left open() waiting forever; it must fail, and release the file.
    log = SqliteEventLog(tmp_path / "events.db")
    await log.open()
    await log.append([ev(1)])
    await log.close()
    with sqlite3.connect(tmp_path / "events.db") as conn:
        conn.execute("UPDATE log_state SET last_seq = 'one' WHERE id = 1")
    conn.close()
    damaged = SqliteEventLog(tmp_path / "events.db")
    with pytest.raises(EventLogOpenError, match="cannot be opened: .*TypeError"):
        await asyncio.wait_for(damaged.open(), 10)
    with pytest.raises(EventLogClosed):
        await damaged.append([ev(2)])
    with pytest.raises(EventLogOpenError):  # refused again on its own merits, not for a lock left behind
        await asyncio.wait_for(SqliteEventLog(tmp_path / "events.db").open(), 10)


# -- writes that fail (writer.py, pruner.py, schema.rollback) ------------------------------------------
# A trigger added from outside (the file is shared in WAL mode) makes the log's own statement fail mid-
# transaction, as a full disk or an I/O error would; the log must answer that write with an error, keep
# nothing of it, and stay writable.


def _refuse(path: Path, trigger: str) -> None:
    with sqlite3.connect(path, timeout=10) as conn:
        conn.execute(trigger)
    conn.close()


async def test_a_failed_append_stores_nothing_and_the_next_append_goes_through(make_log: MakeLog,
                                                                              tmp_path: Path) -> None:
    log = await make_log()
    await log.append([ev(1)])
    _refuse(tmp_path / "events.db", f"CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.sid = '{ev(3).sid}'"
                                    " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")
    with pytest.raises(EventLogWriteError, match="events not stored: refused by the test"):
        await log.append([ev(2), ev(3)])
    assert await log.append([ev(4)]) == [AppendResult(2, False)]  # the failed batch used no seq
    assert [e.sid for e in await log.read_after(0, limit=10)] == [ev(1).sid, ev(4).sid]
    assert await log.last_seq() == 2 and log.stats.appended == 2


async def test_a_failed_mark_keeps_the_old_one_and_the_log_stays_writable(make_log: MakeLog, tmp_path: Path) -> None:
    log = await make_log()
    assert await log.mark_complete_until(WS1, T0) == T0
    _refuse(tmp_path / "events.db", "CREATE TRIGGER refuse BEFORE UPDATE ON marks"
                                    " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")
    with pytest.raises(EventLogWriteError, match="mark not stored: refused by the test"):
        await log.mark_complete_until(WS1, T0 + 10)
    assert await log.complete_until_ms(WS1) == T0
    assert await log.append([ev(1)]) == [AppendResult(1, False)]


async def test_a_failed_prune_removes_nothing_and_the_log_stays_writable(make_log: MakeLog, tmp_path: Path) -> None:
    log = await make_log(retention=Retention(max_age_ms=None, max_rows=2))
    await log.append([ev(n) for n in range(1, 6)])
    _refuse(tmp_path / "events.db", "CREATE TRIGGER refuse BEFORE DELETE ON events"
                                    " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")
    with pytest.raises(EventLogWriteError, match="prune failed: refused by the test"):
        await log.prune()
    assert await log.first_seq() == 1 and log.stats.pruned == 0
    assert await log.append([ev(6)]) == [AppendResult(6, False)]
    _refuse(tmp_path / "events.db", "DROP TRIGGER refuse")
    assert await log.prune() == 4  # the next pass starts over and succeeds
    assert [e.seq for e in await log.read_after(0, limit=10)] == [5, 6]


# -- the file format (schema.py) -----------------------------------------------------------------------


async def test_a_new_log_file_is_marked_as_an_event_log_of_schema_version_2(make_log: MakeLog, tmp_path: Path) -> None:
    # Files written by earlier builds carry these two numbers: a build that changed them would refuse every
    # existing log ("not an event log").
    await make_log()
    with sqlite3.connect(tmp_path / "events.db") as conn:
        marks = conn.execute("PRAGMA application_id").fetchone()[0], conn.execute("PRAGMA user_version").fetchone()[0]
    conn.close()
    assert marks == (int.from_bytes(b"TRGL", "big"), 2)


async def test_a_log_whose_newest_seq_is_past_its_recorded_last_seq_is_refused_naming_it(tmp_path: Path) -> None:
    log = SqliteEventLog(tmp_path / "events.db")
    await log.open()
    await log.append([ev(1), ev(2), ev(3)])
    await log.close()
    with sqlite3.connect(tmp_path / "events.db") as conn:
        conn.execute("UPDATE log_state SET last_seq = 1 WHERE id = 1")
    conn.close()
    with pytest.raises(EventLogOpenError, match=r"is damaged: seq 3 beyond last_seq$"):
        await SqliteEventLog(tmp_path / "events.db").open()


# -- the log object (log.py) ---------------------------------------------------------------------------


async def test_the_smallest_tuning_values_are_accepted_and_work(make_log: MakeLog) -> None:
    log = await make_log(max_batch=1, readers=1, prune_chunk=1, prune_chunk_ms=0.001, prune_rest=0,
                         retention=Retention(max_age_ms=None, max_rows=1))
    assert log.path.name == "events.db"
    assert [r.seq for r in await log.append([ev(1), ev(2), ev(3)])] == [1, 2, 3]
    assert await log.prune() == 2  # a row per chunk, no rest between chunks
    assert [e.seq for e in await log.read_after(0, limit=10)] == [3]
    assert log.stats.prune_chunks == 2


async def test_the_longest_prune_chunk_is_reported_in_milliseconds(make_log: MakeLog) -> None:
    log = await make_log(retention=Retention(max_age_ms=None, max_rows=1), prune_chunk=10_000,
                         prune_chunk_ms=10_000.0)
    await log.append([ev(n) for n in range(1, 2001)])
    assert (log.stats.commits, log.stats.commits_during_prune) == (1, 0)  # no prune was running
    started = time.perf_counter()
    assert await log.prune() == 1999
    elapsed_ms = (time.perf_counter() - started) * 1000
    # A chunk's BEGIN..COMMIT (an fsync) takes far more than 10 µs, and no more than the whole prune took.
    assert 0.01 < log.stats.longest_prune_chunk_ms <= elapsed_ms


@pytest.mark.parametrize("option", ["max_batch", "readers", "prune_chunk", "prune_chunk_ms", "prune_rest"])
def test_a_bool_is_not_taken_for_a_number(tmp_path: Path, option: str) -> None:
    with pytest.raises(ValueError, match=f"{option} must be"):
        SqliteEventLog(tmp_path / "events.db", **{option: True})  # type: ignore[arg-type]


async def test_by_default_an_event_is_received_at_the_wall_clock_s_millisecond(make_log: MakeLog) -> None:
    log = await make_log()
    before = time.time_ns() // 1_000_000
    [result] = await log.append([ev(1)])
    after = time.time_ns() // 1_000_000
    [stored] = await log.read_after(0, limit=1)
    assert before <= stored.received_ms <= after and stored.seq == result.seq


# -- the writer's last resort (writer.py) --------------------------------------------------------------


def _crash_the_pruner(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """A bug in the writer thread, injected in the pruner: (entered, go_on). The prune step sets `entered`,
    waits for `go_on`, then raises."""
    entered, go_on = threading.Event(), threading.Event()

    def buggy_step(self, conn, job, state) -> None:
        entered.set()
        assert go_on.wait(10)
        raise RuntimeError("a bug in the pruner")

    monkeypatch.setattr(pruner.Pruner, "step", buggy_step)
    return entered, go_on


async def test_a_writer_that_crashes_fails_every_waiting_caller_and_refuses_new_work(
    make_log: MakeLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bug in the writer thread (here: in the pruner, injected) must not leave callers waiting forever: the job
    # it was doing and everything queued behind it fail, and the log refuses new work instead of queueing it.
    entered, go_on = _crash_the_pruner(monkeypatch)
    log = await make_log(retention=Retention(max_age_ms=None, max_rows=1))
    await log.append([ev(1)])
    pruning = asyncio.ensure_future(log.prune())
    assert await asyncio.to_thread(entered.wait, 10)
    appending = asyncio.ensure_future(log.append([ev(2)]))
    marking = asyncio.ensure_future(log.mark_complete_until(WS1, T0))
    await asyncio.sleep(0)  # one loop turn: both are queued behind the prune
    go_on.set()
    for waiting in (pruning, appending, marking):
        with pytest.raises(EventLogError, match="writer stopped: RuntimeError\\('a bug in the pruner'\\)"):
            await asyncio.wait_for(waiting, 10)
    with pytest.raises(EventLogClosed, match="its writer has stopped"):
        await log.append([ev(3)])


async def test_a_writer_that_crashes_while_the_log_closes_still_fails_the_waiting_callers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, go_on = _crash_the_pruner(monkeypatch)
    log = SqliteEventLog(tmp_path / "events.db", retention=Retention(max_age_ms=None, max_rows=1))
    await log.open()
    pruning = asyncio.ensure_future(log.prune())
    assert await asyncio.to_thread(entered.wait, 10)
    appending = asyncio.ensure_future(log.append([ev(1)]))
    await asyncio.sleep(0)  # one loop turn: the append is queued behind the prune
    closing = asyncio.ensure_future(log.close())  # queues the close behind it
    await asyncio.sleep(0)
    go_on.set()
    for waiting in (pruning, appending):
        with pytest.raises(EventLogError, match="writer stopped"):
            await asyncio.wait_for(waiting, 10)
    await asyncio.wait_for(closing, 10)  # and the close completes
