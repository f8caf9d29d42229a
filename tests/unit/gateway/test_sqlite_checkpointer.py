"""The SQLite log's checkpointer on its own, on a real WAL file: when a WAL counts as long, when it is nearly
copied (so the writer's next write restarts it), and what makes a pass try again.

Its contract with the writer and the pruner: after each pass it calls after_pass (which ends a prune's pause)
unless the WAL is long and not yet nearly copied; holds_prunes says whether a prune must pause; catch_up copies
what is left of a nearly copied WAL so the next write starts it over. A WAL of 8 frames counts as long here."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskrouter_gateway.eventlog.sqlite import checkpointer
from taskrouter_gateway.eventlog.sqlite.checkpointer import Checkpointer

WAIT = 10.0  # an upper bound for a hung thread; every wait below ends on a condition


class Passes:
    """after_pass, counted; waited for on an event rather than by time."""

    def __init__(self) -> None:
        self.count = 0
        self._changed = threading.Condition()

    def __call__(self) -> None:
        with self._changed:
            self.count += 1
            self._changed.notify_all()

    def wait_for(self, count: int) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: self.count >= count, WAIT), f"after_pass not called {count} times"


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, sqlite3.Connection]]:
    monkeypatch.setattr(checkpointer, "_WAL_RESTART_FRAMES", 8)
    monkeypatch.setattr(checkpointer, "_CHECKPOINT_PAUSE_S", 0.0)
    path = tmp_path / "wal.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")  # as the log's writer: only the checkpointer copies
    conn.execute("CREATE TABLE t (x BLOB)")
    yield path, conn
    conn.close()


def _until(predicate, what: str) -> None:
    """Polls a condition (no fixed sleep) until it holds."""
    deadline = time.monotonic() + WAIT
    while not predicate():
        assert time.monotonic() < deadline, f"no {what} within {WAIT} s"
        time.sleep(0.01)


def _write(conn: sqlite3.Connection, transactions: int) -> None:
    for _ in range(transactions):
        conn.execute("INSERT INTO t VALUES (?)", (os.urandom(3000),))  # a page or more each


def _wal_frames(conn: sqlite3.Connection) -> int:
    """Frames in the WAL now (a PASSIVE checkpoint reports them; it also copies them, which is harmless here)."""
    return conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]


def test_a_long_wal_is_nearly_copied_after_a_pass_and_the_next_write_restarts_it(db) -> None:
    path, conn = db
    passes = Passes()
    wal = Checkpointer(path, after_pass=passes)
    assert not wal.holds_prunes
    wal.catch_up(conn)  # nothing was copied yet: nothing to finish
    assert wal.restarts == 0
    wal.start()
    try:
        _write(conn, 20)
        wal.note_write()
        passes.wait_for(1)
        assert wal.passes >= 1 and not wal.holds_prunes  # long, but only appends wrote: nearly copied
        wal.catch_up(conn)
        assert wal.restarts == 1 and not wal.holds_prunes
        _write(conn, 1)
        assert _wal_frames(conn) < 8  # the write started the WAL over instead of appending to 40-odd frames
        wal.catch_up(conn)  # once only: a second catch-up has nothing to finish
        assert wal.restarts == 1
    finally:
        wal.stop()


def test_a_short_wal_is_copied_without_holding_prunes_or_a_restart(db) -> None:
    path, conn = db
    passes = Passes()
    wal = Checkpointer(path, after_pass=passes)
    assert (wal.passes, wal.restarts) == (0, 0)
    wal.start()
    try:
        _write(conn, 1)
        wal.note_write()
        passes.wait_for(1)
        assert wal.passes == 1 and not wal.holds_prunes  # one pass for one write
        wal.catch_up(conn)
        assert wal.restarts == 0  # not long: nothing for the writer to finish
    finally:
        wal.stop()


def test_a_prune_chunk_written_during_a_pass_is_copied_before_prunes_go_on(db, monkeypatch) -> None:
    path, conn = db
    passes = Passes()
    in_flush, go_on = threading.Event(), threading.Event()
    real_fdatasync = os.fdatasync

    def flush(fd: int) -> None:  # the first pass's flush waits until the "prune chunk" is written
        if not go_on.is_set():
            in_flush.set()
            assert go_on.wait(WAIT)
        real_fdatasync(fd)

    monkeypatch.setattr(checkpointer.os, "fdatasync", flush)
    wal = Checkpointer(path, after_pass=passes)
    wal.start()
    try:
        _write(conn, 20)
        wal.note_write()
        assert in_flush.wait(WAIT)
        _write(conn, 20)  # a prune chunk commits while the pass runs
        wal.note_write(prune_chunk=True)
        go_on.set()
        passes.wait_for(1)
        # The pass that saw the chunk went round again rather than call the WAL nearly copied.
        assert wal.passes >= 2 and not wal.holds_prunes
        wal.catch_up(conn)
        assert wal.restarts == 1
    finally:
        wal.stop()


def test_a_pass_that_a_reader_held_back_tries_again_until_the_reader_is_done(db) -> None:
    path, conn = db
    passes = Passes()
    wal = Checkpointer(path, after_pass=passes)
    reader = sqlite3.connect(path, isolation_level=None)
    wal.start()
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM t").fetchall()  # a snapshot: frames after it cannot be copied
        _write(conn, 20)
        wal.note_write()
        # No write since: the checkpointer retries on its own, and holds prunes meanwhile.
        _until(lambda: wal.passes >= 5, "five passes")
        assert passes.count == 0 and wal.holds_prunes
        reader.execute("COMMIT")
        passes.wait_for(1)
        assert not wal.holds_prunes
    finally:
        reader.close()
        wal.stop()


def test_a_flush_that_fails_does_not_end_the_passes(db, monkeypatch) -> None:
    path, conn = db
    passes = Passes()
    failures: list[int] = []

    def failing_flush(fd: int) -> None:  # the disk refuses the database file's flush (EIO)
        failures.append(fd)
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(checkpointer.os, "fdatasync", failing_flush)
    wal = Checkpointer(path, after_pass=passes)
    wal.start()
    try:
        _write(conn, 1)
        wal.note_write()
        passes.wait_for(1)
        _write(conn, 1)
        wal.note_write()
        passes.wait_for(2)  # the thread survived the first failure
        assert len(failures) == 2 and wal.passes == 2
    finally:
        wal.stop()


def test_a_catch_up_that_fails_is_not_raised_to_the_write_and_is_not_counted(db, tmp_path: Path) -> None:
    path, conn = db
    passes = Passes()
    wal = Checkpointer(path, after_pass=passes)
    wal.start()
    try:
        _write(conn, 20)
        wal.note_write()
        passes.wait_for(1)
        broken = sqlite3.connect(tmp_path / "other.db")
        broken.close()  # its checkpoint fails (sqlite3.ProgrammingError): the writer's write must still go on
        wal.catch_up(broken)
        assert wal.restarts == 0 and not wal.holds_prunes
    finally:
        wal.stop()
