"""The writer thread: the one connection that writes, group commit, and the hand-off of results to the event loop.

Group commit: appends go onto a queue that the writer thread drains. While one transaction's fsync runs, new
appends queue up; the next transaction takes all of them (up to max_batch events) and pays one fsync for the
lot. A lone append is committed at once, so batching never adds latency, and no result is given before its
transaction is durable, so batching keeps the durability promise. Each commit wakes the event loop once, to
answer every caller of the batch and to hand the new events to commit listeners (the fan-out), so nothing
reads back what was just written.

The thread opens the write connection, keeps it for its whole life and closes it: no other thread touches it.
Prune chunks (pruner.py) and marks run on it too, between batches of appends.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import structlog

from ..log import AppendResult, EventLogError, EventLogOpenError, EventLogWriteError, StoredEvent
from .checkpointer import Checkpointer
from .jobs import Append, Job, JobQueue, Mark, Prune, Stop
from .pruner import Pruner
from .schema import LogState, Synchronous, open_for_writing, rollback, row

_INSERT: Final = (
    "INSERT INTO events (seq, sid, workspace_sid, event_type, resource_sid, event_date_ms, received_ms, size, payload)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_MAX_SQL_VARIABLES: Final = 500  # per "sid IN (...)" lookup; SQLite's floor is 999

_log = structlog.get_logger(__name__)


class Writer:
    def __init__(
        self,
        path: Path,
        *,
        synchronous: Synchronous,
        max_batch: int,
        clock_ms: Callable[[], int],
        jobs: JobQueue,
        pruner: Pruner,
        wal: Checkpointer,
    ) -> None:
        self._path = path
        self._synchronous = synchronous
        self._max_batch = max_batch
        self._clock_ms = clock_ms
        self._jobs = jobs
        self._pruner = pruner
        self._wal = wal
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listeners: list[Callable[[list[StoredEvent]], None]] = []
        self._stopping = False  # closing: finish what is queued, no prune pauses any more
        self._state: LogState | None = None  # set by the thread once the file is open
        self._in_hand: list[Job] = []  # what the thread is doing now: failed too if the thread crashes
        self.done: concurrent.futures.Future[None] = concurrent.futures.Future()  # the thread has ended
        # Counters (writer thread), read by anyone.
        self.commits = 0  # append transactions committed (each one fsync with synchronous=FULL)
        self.appended = 0  # events stored
        self.duplicates = 0  # events answered with an existing seq
        self.commits_during_prune = 0  # append transactions committed between the chunks of a running prune

    @property
    def log_id(self) -> str | None:
        return self._state.log_id if self._state is not None else None

    @property
    def last_seq(self) -> int:
        """Published before any caller hears of a commit, so last_seq >= every acknowledged seq."""
        return self._state.last_seq if self._state is not None else 0

    def add_listener(self, listener: Callable[[list[StoredEvent]], None]) -> None:
        self._listeners.append(listener)

    def start(self, loop: asyncio.AbstractEventLoop, opened: concurrent.futures.Future[None]) -> None:
        """Starts the thread; `opened` resolves once the file is open (or with why it cannot be)."""
        self._loop = loop
        thread = threading.Thread(
            target=self._main, args=(opened,), name=f"event-log-writer:{self._path.name}", daemon=True
        )
        thread.start()

    def _main(self, opened: concurrent.futures.Future[None]) -> None:
        try:
            try:
                conn, state = open_for_writing(self._path, self._synchronous, self._clock_ms)
            except EventLogOpenError as exc:
                opened.set_exception(exc)
                return
            except sqlite3.Error as exc:
                opened.set_exception(EventLogOpenError(f"event log {self._path} cannot be opened: {exc}"))
                return
            self._state = state
            opened.set_result(None)
            self._wal.start()
            try:
                self._serve(conn, state)
            finally:
                self._wal.stop()
                conn.close()
        except BaseException as exc:  # a bug, not an SQLite error: fail everything still waiting
            _log.exception("event_log.writer_crashed", path=str(self._path))
            if not opened.done():  # during open: open() waits on this, and would wait forever
                opened.set_exception(EventLogOpenError(f"event log {self._path} cannot be opened: {exc!r}"))
            self._fail_queued(EventLogError(f"event log writer stopped: {exc!r}"))
        finally:
            self.done.set_result(None)

    def _serve(self, conn: sqlite3.Connection, state: LogState) -> None:
        carry: Job | None = None
        while True:
            job: Job | None
            if carry is not None:
                job, carry = carry, None
            elif self._stopping:
                job = self._jobs.poll()
                if job is None:
                    job = self._jobs.take_parked()  # a paused prune finishes too, without pausing again
                    if job is None:
                        return
            else:
                job = self._jobs.get()
            if isinstance(job, Stop):
                # Nothing new is accepted once closing; finish what is queued (prune continuations too).
                self._stopping = True
                self._pruner.close()
            elif isinstance(job, Prune):
                self._in_hand = [job]
                self._pruner.step(conn, job, state)
            elif isinstance(job, Mark):
                self._in_hand = [job]
                self._set_mark(conn, job)
            else:
                batch: list[Append] = []
                count = 0
                while True:
                    if not job.future.cancelled():  # the caller gave up before we began (a racy read is fine)
                        batch.append(job)
                        count += len(job.events)
                    if count >= self._max_batch:
                        break
                    job = self._jobs.poll()
                    if job is None:
                        break
                    if not isinstance(job, Append):
                        carry = job
                        break
                if batch:
                    self._in_hand = list(batch)
                    self._commit_appends(conn, state, batch)
            self._in_hand = []

    def _commit_appends(self, conn: sqlite3.Connection, state: LogState, batch: list[Append]) -> None:
        # received_ms never decreases, even if the wall clock steps back: age retention stays a prefix.
        received_ms = max(self._clock_ms(), state.last_received_ms)
        seq = state.last_seq
        total = state.total_bytes
        results: list[list[AppendResult]] = []
        rows: list[tuple[Any, ...]] = []
        stored: list[StoredEvent] = []
        self._wal.catch_up(conn)
        try:
            conn.execute("BEGIN IMMEDIATE")
            seen = self._known_seqs(conn, [ev.sid for job in batch for ev in job.events])
            for job in batch:
                out: list[AppendResult] = []
                for ev in job.events:
                    known = seen.get(ev.sid)
                    if known is not None:
                        out.append(AppendResult(known, True))
                        continue
                    seq += 1
                    size = len(ev.payload)
                    total += size
                    seen[ev.sid] = seq
                    rows.append((seq, ev.sid, ev.workspace_sid, ev.event_type, ev.resource_sid, ev.event_date_ms,
                                 received_ms, size, ev.payload))
                    stored.append(StoredEvent(seq, ev.sid, ev.workspace_sid, ev.event_type, ev.resource_sid,
                                              ev.event_date_ms, received_ms, ev.payload))
                    out.append(AppendResult(seq, False))
                results.append(out)
            if rows:
                conn.executemany(_INSERT, rows)
                conn.execute("UPDATE log_state SET last_seq = ?, total_bytes = ? WHERE id = 1", (seq, total))
            conn.execute("COMMIT")
        except Exception as exc:  # sqlite3.Error mostly (disk full, I/O); anything else must not strand callers
            rollback(conn)
            _log.error("event_log.append_failed", path=str(self._path), events=sum(len(j.events) for j in batch),
                       error=str(exc))
            self._to_loop(self._fail, batch, EventLogWriteError(f"events not stored: {exc}"))
            return
        # Publish the new position before any caller hears of it, so last_seq() >= every acknowledged seq.
        state.last_seq = seq
        state.total_bytes = total
        state.last_received_ms = received_ms
        self._wal.note_write()
        self.commits += 1
        if self._pruner.running:
            self.commits_during_prune += 1
        self.appended += len(rows)
        self.duplicates += sum(len(out) for out in results) - len(rows)
        self._to_loop(self._answer, batch, results, stored)

    @staticmethod
    def _known_seqs(conn: sqlite3.Connection, sids: list[str]) -> dict[str, int]:
        """sid -> seq of those already stored: one indexed lookup per chunk instead of a query per event."""
        known: dict[str, int] = {}
        unique = list(dict.fromkeys(sids))
        for i in range(0, len(unique), _MAX_SQL_VARIABLES):
            chunk = unique[i : i + _MAX_SQL_VARIABLES]
            marks = ",".join("?" * len(chunk))
            known.update(conn.execute(f"SELECT sid, seq FROM events WHERE sid IN ({marks})", chunk).fetchall())
        return known

    def _set_mark(self, conn: sqlite3.Connection, job: Mark) -> None:
        if not job.future.set_running_or_notify_cancel():
            return
        self._wal.catch_up(conn)
        try:
            conn.execute(
                "INSERT INTO marks (workspace_sid, complete_ms) VALUES (?, ?) ON CONFLICT (workspace_sid)"
                " DO UPDATE SET complete_ms = max(complete_ms, excluded.complete_ms)",
                (job.workspace_sid, job.complete_ms),
            )
            stored = row(conn, "SELECT complete_ms FROM marks WHERE workspace_sid = ?", (job.workspace_sid,))
        except Exception as exc:
            rollback(conn)
            job.future.set_exception(EventLogWriteError(f"mark not stored: {exc}"))
            return
        self._wal.note_write()
        job.future.set_result(stored[0])

    def _to_loop(self, callback: Callable[..., None], *args: Any) -> None:
        """Runs callback on the log's event loop: one wake-up per commit, however many callers it answers."""
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            _log.warning("event_log.loop_closed", path=str(self._path))  # nobody is left to answer

    def _answer(self, batch: list[Append], results: list[list[AppendResult]], stored: list[StoredEvent]) -> None:
        for job, out in zip(batch, results):
            if not job.future.done():
                job.future.set_result(out)
        if stored:
            for listener in self._listeners:
                try:
                    listener(stored)
                except Exception:  # a listener's bug must not stop the others, nor the callers' answers
                    _log.exception("event_log.listener_failed", path=str(self._path))

    @staticmethod
    def _fail(batch: list[Append], exc: EventLogError) -> None:
        for job in batch:
            if not job.future.done():
                job.future.set_exception(exc)

    def _fail_queued(self, exc: EventLogError) -> None:
        """After a crash: fails the job in hand and every queued one, so no caller waits forever."""
        appends: list[Append] = []
        pending = self._in_hand
        self._in_hand = []
        while (job := self._jobs.poll()) is not None:
            pending.append(job)
        parked = self._jobs.take_parked()
        if parked is not None:
            pending.append(parked)
        for job in pending:
            if isinstance(job, Append):
                appends.append(job)
            elif not isinstance(job, Stop) and (job.future.running() or job.future.set_running_or_notify_cancel()):
                if not job.future.done():
                    job.future.set_exception(exc)  # Prune, Mark
        if appends:
            self._to_loop(self._fail, appends, exc)
