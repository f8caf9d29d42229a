"""EventLog on one SQLite file in WAL mode: a writer thread with group commit, plus a pool of reader threads.

Durability: append() resolves only after COMMIT. With synchronous="FULL" (the default) SQLite fsyncs the WAL
at every commit, so an acknowledged event survives a process crash and a power loss. synchronous="NORMAL"
skips that fsync: acknowledged events survive a process crash but the last ones can vanish on power loss or
an OS crash; use it for benchmarks only.

Group commit: appends go onto a queue that the writer thread drains. While one transaction's fsync runs, new
appends queue up; the next transaction takes all of them (up to max_batch events) and pays one fsync for the
lot. A lone append is committed at once, so batching never adds latency, and no result is given before its
transaction is durable, so batching keeps the durability promise. Each commit wakes the event loop once, to
answer every caller of the batch and to hand the new events to commit listeners (the fan-out), so nothing
reads back what was just written.

Retention: prune() removes the oldest events in chunks, letting queued appends in between chunks so a big
prune never stalls webhooks. Each chunk is one transaction sized to take about prune_chunk_ms (the size adapts
to what the last chunks cost, up to prune_chunk rows), so an append waits at most about that long. Where to
stop costs no scan: the age boundary is a binary search over seq (received_ms never decreases with seq), the
byte boundary is found chunk by chunk while deleting. Schedule it with events.log.run_retention (the app
decides the interval).

Checkpoints: the writer never copies the WAL into the database itself (wal_autocheckpoint off); a checkpointer
thread does, on its own connection, with PASSIVE checkpoints that run beside the writer instead of inside one
of its transactions. A checkpoint after a prune chunk copies megabytes and fsyncs the database file: in the
writer it stalled appends for 100 ms and more. A WAL restarts from its beginning only when a write finds it
entirely copied, which a busy writer never lets happen. So once the WAL is long (_WAL_RESTART_FRAMES), a
prune pauses between chunks (at 5 million events each deleted row dirties its own page of the sid index: a
prune writes far faster than appends); after a checkpointer pass during which no chunk ran, only appends'
frames are left uncopied, and the writer copies them itself before its next transaction (milliseconds),
which then restarts the WAL. Appends go on all the while.

One process at a time: open() takes an exclusive flock on "<path>.lock" and fails clearly if another log
object (in this or another process) holds it; the kernel drops the lock when a process dies.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import os
import queue
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import structlog

from ..log import (
    AppendResult,
    EventLog,
    EventLogClosed,
    EventLogError,
    EventLogOpenError,
    EventLogWriteError,
    NewEvent,
    Retention,
    StoredEvent,
    check_date,
    check_read_after,
    check_text,
)

# PRAGMA application_id marks the file as ours ("TRGL"); user_version is the schema version.
APPLICATION_ID: Final = 0x5452474C
SCHEMA_VERSION: Final = 2  # 2: payloads are records (events.records), one index fewer

# Per workspace, the date before which the log is known complete (EventLog.complete_until_ms). Added without a
# schema version bump: a file from an older build gains the table at open, and an older build ignores it.
_MARKS_TABLE: Final = (
    "CREATE TABLE IF NOT EXISTS marks (workspace_sid TEXT PRIMARY KEY, complete_ms INTEGER NOT NULL) WITHOUT ROWID"
)

_SCHEMA: Final = (
    """CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        sid TEXT NOT NULL UNIQUE,
        workspace_sid TEXT NOT NULL,
        event_type TEXT NOT NULL,
        resource_sid TEXT NOT NULL,
        event_date_ms INTEGER NOT NULL,
        received_ms INTEGER NOT NULL,
        size INTEGER NOT NULL,
        payload BLOB NOT NULL
    )""",
    # (workspace_sid) entries end in the rowid (= seq): serves read_after(workspace_sid=...) in seq order.
    "CREATE INDEX events_by_workspace ON events (workspace_sid)",
    "CREATE INDEX events_by_date ON events (event_date_ms)",
    _MARKS_TABLE,
    # One row: last_seq survives pruning every event, so numbering never restarts.
    """CREATE TABLE log_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        log_id TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        last_seq INTEGER NOT NULL,
        total_bytes INTEGER NOT NULL
    )""",
)

_COLUMNS: Final = "seq, sid, workspace_sid, event_type, resource_sid, event_date_ms, received_ms, payload"
_INSERT: Final = (
    "INSERT INTO events (seq, sid, workspace_sid, event_type, resource_sid, event_date_ms, received_ms, size, payload)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_MAX_SQL_VARIABLES: Final = 500  # per "sid IN (...)" lookup; SQLite's floor is 999
_FIRST_CHUNK_ROWS: Final = 256  # a prune's first transaction before any cost is known
_MIN_CHUNK_ROWS: Final = 64  # a COMMIT's fsync costs the same for 1 row or 64: smaller chunks only slow a prune
_CHECKPOINT_PAUSE_S: Final = 0.25  # between the checkpointer's passes while writes continue
_CHECKPOINT_RETRY_S: Final = 0.01  # after a pass that readers held back
_WAL_RESTART_FRAMES: Final = 8192  # a WAL this long (32 MB of 4 KiB pages) is brought back to its start

Synchronous = Literal["FULL", "NORMAL"]

_log = structlog.get_logger(__name__)


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class LogStats:
    """Counters since open(), for metrics and tests."""

    commits: int  # append transactions committed (each one fsync with synchronous=FULL)
    appended: int  # events stored
    duplicates: int  # events answered with an existing seq
    pruned: int  # events removed by retention
    prune_chunks: int = 0  # prune transactions committed
    commits_during_prune: int = 0  # append transactions committed between the chunks of a running prune
    longest_prune_chunk_ms: float = 0.0  # the longest prune transaction, from BEGIN to the end of COMMIT
    checkpoints: int = 0  # passes of the checkpointer thread
    prune_pauses: int = 0  # times a prune waited between chunks for the checkpointer to catch up
    wal_restarts: int = 0  # times the writer copied a long WAL's last frames so that its next write restarts it


@dataclass(slots=True)
class _Append:
    events: Sequence[NewEvent]
    future: asyncio.Future[list[AppendResult]]  # resolved on its loop, by _answer


@dataclass(slots=True)
class _Mark:
    workspace_sid: str
    complete_ms: int
    future: concurrent.futures.Future[int]


@dataclass(slots=True)
class _Prune:
    future: concurrent.futures.Future[int]
    keep_from: int | None = None  # first seq to keep by age and row count; fixed on the first chunk
    bytes_to_free: int = 0  # payload bytes still to remove for max_bytes; fixed on the first chunk
    removed: int = 0


_STOP: Final = object()


class SqliteEventLog(EventLog):
    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Synchronous = "FULL",
        retention: Retention = Retention(),
        max_batch: int = 1000,
        readers: int = 2,
        prune_chunk: int = 5000,
        prune_chunk_ms: float = 15.0,
        prune_rest: float = 1.0,
        clock_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        text = os.fspath(path)
        if not text or text == ":memory:" or text.startswith("file:"):
            raise ValueError(f"path must name a database file, got {text!r}")
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be 'FULL' or 'NORMAL', got {synchronous!r}")
        for name, value in (("max_batch", max_batch), ("readers", readers), ("prune_chunk", prune_chunk)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if isinstance(prune_chunk_ms, bool) or not isinstance(prune_chunk_ms, (int, float)) or not prune_chunk_ms > 0:
            raise ValueError(f"prune_chunk_ms must be a number > 0, got {prune_chunk_ms!r}")
        if isinstance(prune_rest, bool) or not isinstance(prune_rest, (int, float)) or not prune_rest >= 0:
            raise ValueError(f"prune_rest must be a number >= 0, got {prune_rest!r}")
        if not isinstance(retention, Retention):
            raise TypeError("retention must be a Retention")
        self._path = Path(text)
        self._synchronous = synchronous
        self._retention = retention
        self._max_batch = max_batch
        self._reader_count = readers
        self._prune_chunk = prune_chunk
        self._prune_chunk_s = prune_chunk_ms / 1000
        self._prune_rest = prune_rest
        # Rows per prune transaction, learnt from the last chunks' cost; starts small, grows while cheap.
        self._chunk_rows = min(prune_chunk, _FIRST_CHUNK_ROWS)
        self._clock_ms = clock_ms

        self._state: Literal["new", "opening", "open", "closing", "closed"] = "new"
        self._log_id: str | None = None
        self._lock_fd: int | None = None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._writer_done: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._readers: concurrent.futures.ThreadPoolExecutor | None = None
        self._closing: asyncio.Future[None] | None = None
        self._reader_local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_conns_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listeners: list[Callable[[list[StoredEvent]], None]] = []

        # Owned by the writer thread; other threads only read them (int loads are atomic).
        self._last_seq = 0
        self._total_bytes = 0
        self._last_received_ms = 0
        self._commits = 0
        self._appended = 0
        self._duplicates = 0
        self._pruned = 0
        self._prune_chunks = 0
        self._commits_during_prune = 0
        self._longest_prune_chunk_s = 0.0
        self._pruning = False  # a prune has run a chunk and not finished (writer thread only)
        self._checkpoints = 0
        self._wal_written = threading.Event()  # the writer committed since the checkpointer's last pass
        self._checkpointer_stop = threading.Event()
        self._wal_long = False  # set by the checkpointer: a prune pauses until the WAL restarts
        self._wal_nearly_copied = False  # set by the checkpointer: the writer copies the rest and restarts the WAL
        self._parked: _Prune | None = None  # a prune paused for the checkpointer, which requeues it
        self._parked_lock = threading.Lock()
        self._stopping = False  # writer thread only: closing, no prune pauses any more
        self._prune_pauses = 0
        self._wal_restarts = 0

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self._path

    @property
    def stats(self) -> LogStats:
        return LogStats(
            self._commits, self._appended, self._duplicates, self._pruned, self._prune_chunks,
            self._commits_during_prune, self._longest_prune_chunk_s * 1000, self._checkpoints, self._prune_pauses,
            self._wal_restarts,
        )

    async def open(self) -> None:
        if self._state != "new":
            raise EventLogError(f"event log {self._path} can be opened once (state: {self._state})")
        self._state = "opening"
        self._loop = asyncio.get_running_loop()
        try:
            self._check_path()
            self._lock_fd = self._take_lock()
            opened: concurrent.futures.Future[None] = concurrent.futures.Future()
            self._writer = threading.Thread(
                target=self._writer_main, args=(opened,), name=f"event-log-writer:{self._path.name}", daemon=True
            )
            self._writer.start()
            await asyncio.wrap_future(opened)
        except BaseException:
            self._queue.put(_STOP)  # if open() was cancelled while the writer was still starting
            self._release_lock()
            self._state = "closed"
            raise
        self._readers = concurrent.futures.ThreadPoolExecutor(
            max_workers=self._reader_count, thread_name_prefix=f"event-log-reader:{self._path.name}"
        )
        self._state = "open"
        _log.info(
            "event_log.opened", path=str(self._path), log_id=self._log_id, last_seq=self._last_seq,
            synchronous=self._synchronous,
        )

    async def close(self) -> None:
        if self._state == "new":
            self._state = "closed"
        if self._state == "open":
            self._state = "closing"
            self._closing = asyncio.ensure_future(self._close())
        if self._closing is not None:
            await asyncio.shield(self._closing)

    async def _close(self) -> None:
        # Everything queued before _STOP is still written: close flushes pending appends.
        self._queue.put(_STOP)
        await asyncio.wrap_future(self._writer_done)
        if self._readers is not None:
            await asyncio.to_thread(self._readers.shutdown, wait=True)
        with self._reader_conns_lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()
        self._release_lock()
        self._state = "closed"
        _log.info("event_log.closed", path=str(self._path), last_seq=self._last_seq)

    def _check_path(self) -> None:
        parent = self._path.parent
        if not parent.is_dir():
            raise EventLogOpenError(f"event log {self._path}: directory {parent} does not exist")
        if self._path.is_dir():
            raise EventLogOpenError(f"event log {self._path} is a directory, not a database file")

    def _take_lock(self) -> int:
        lock_path = f"{self._path}.lock"
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise EventLogOpenError(f"event log {self._path}: cannot create lock file {lock_path}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise EventLogOpenError(
                f"event log {self._path} is already open (by this or another process)"
            ) from None
        return fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor drops the flock
            self._lock_fd = None

    # -- writer thread -----------------------------------------------------------------------------

    def _writer_main(self, opened: concurrent.futures.Future[None]) -> None:
        try:
            try:
                conn = self._connect_writer()
            except EventLogOpenError as exc:
                opened.set_exception(exc)
                return
            except sqlite3.Error as exc:
                opened.set_exception(EventLogOpenError(f"event log {self._path} cannot be opened: {exc}"))
                return
            opened.set_result(None)
            checkpointer = threading.Thread(
                target=self._checkpointer_main, name=f"event-log-checkpointer:{self._path.name}", daemon=True
            )
            checkpointer.start()
            try:
                self._serve(conn)
            finally:
                self._checkpointer_stop.set()
                self._wal_written.set()
                checkpointer.join()
                conn.close()
        except BaseException as exc:  # a bug, not an SQLite error: fail everything still waiting
            _log.exception("event_log.writer_crashed", path=str(self._path))
            self._fail_queued(EventLogError(f"event log writer stopped: {exc!r}"))
        finally:
            self._writer_done.set_result(None)

    def _connect_writer(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, isolation_level=None, timeout=10.0)
        try:
            # A non-database file fails here ("file is not a database"), before anything is written.
            app_id = _row(conn, "PRAGMA application_id")[0]
            version = _row(conn, "PRAGMA user_version")[0]
            tables = _row(conn, "SELECT count(*) FROM sqlite_schema")[0]
            if app_id == 0 and version == 0 and tables == 0:
                self._create_schema(conn)
            elif app_id != APPLICATION_ID:
                raise EventLogOpenError(f"{self._path} is an SQLite database but not an event log")
            elif version != SCHEMA_VERSION:
                raise EventLogOpenError(
                    f"event log {self._path} has schema version {version}; this build reads {SCHEMA_VERSION}"
                )
            mode = _row(conn, "PRAGMA journal_mode=WAL")[0]
            if str(mode).lower() != "wal":
                raise EventLogOpenError(f"event log {self._path}: cannot use WAL mode (got {mode!r})")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer thread copies the WAL (module doc)
            conn.execute(_MARKS_TABLE)
            self._load_state(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO log_state (id, log_id, created_ms, last_seq, total_bytes) VALUES (1, ?, ?, 0, 0)",
                (secrets.token_hex(8), self._clock_ms()),
            )
            conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _load_state(self, conn: sqlite3.Connection) -> None:
        row = _row(conn, "SELECT log_id, last_seq, total_bytes FROM log_state WHERE id = 1")
        if row is None:
            raise EventLogOpenError(f"event log {self._path} is damaged: its state row is missing")
        self._log_id, self._last_seq, self._total_bytes = row
        newest = _row(conn, "SELECT seq, received_ms FROM events ORDER BY seq DESC LIMIT 1")
        if newest is not None:
            if newest[0] > self._last_seq:
                raise EventLogOpenError(f"event log {self._path} is damaged: seq {newest[0]} beyond last_seq")
            self._last_received_ms = newest[1]

    def _serve(self, conn: sqlite3.Connection) -> None:
        carry: Any = None
        while True:
            if carry is not None:
                job, carry = carry, None
            elif self._stopping:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    job = self._take_parked()  # a paused prune finishes too, without pausing again
                    if job is None:
                        return
            else:
                job = self._queue.get()
            if job is _STOP:
                # Nothing new is accepted once closing; finish what is queued (prune continuations too).
                self._stopping = True
            elif isinstance(job, _Prune):
                self._prune_step(conn, job)
            elif isinstance(job, _Mark):
                self._set_mark(conn, job)
            else:
                batch: list[_Append] = []
                count = 0
                while True:
                    if not job.future.cancelled():  # the caller gave up before we began (a racy read is fine)
                        batch.append(job)
                        count += len(job.events)
                    if count >= self._max_batch:
                        break
                    try:
                        job = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if not isinstance(job, _Append):
                        carry = job
                        break
                if batch:
                    self._commit_appends(conn, batch)

    def _commit_appends(self, conn: sqlite3.Connection, batch: list[_Append]) -> None:
        # received_ms never decreases, even if the wall clock steps back: age retention stays a prefix.
        received_ms = max(self._clock_ms(), self._last_received_ms)
        seq = self._last_seq
        total = self._total_bytes
        results: list[list[AppendResult]] = []
        rows: list[tuple[Any, ...]] = []
        stored: list[StoredEvent] = []
        self._catch_up(conn)
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
            self._rollback(conn)
            _log.error("event_log.append_failed", path=str(self._path), events=sum(len(j.events) for j in batch),
                       error=str(exc))
            self._to_loop(self._fail, batch, EventLogWriteError(f"events not stored: {exc}"))
            return
        # Publish the new position before any caller hears of it, so last_seq() >= every acknowledged seq.
        self._last_seq = seq
        self._total_bytes = total
        self._last_received_ms = received_ms
        self._after_write(conn)
        self._commits += 1
        if self._pruning:
            self._commits_during_prune += 1
        self._appended += len(rows)
        self._duplicates += sum(len(out) for out in results) - len(rows)
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

    def _to_loop(self, callback: Callable[..., None], *args: Any) -> None:
        """Runs callback on the log's event loop: one wake-up per commit, however many callers it answers."""
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            _log.warning("event_log.loop_closed", path=str(self._path))  # nobody is left to answer

    def _answer(self, batch: list[_Append], results: list[list[AppendResult]], stored: list[StoredEvent]) -> None:
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
    def _fail(batch: list[_Append], exc: EventLogError) -> None:
        for job in batch:
            if not job.future.done():
                job.future.set_exception(exc)

    def _set_mark(self, conn: sqlite3.Connection, job: _Mark) -> None:
        if not job.future.set_running_or_notify_cancel():
            return
        self._catch_up(conn)
        try:
            conn.execute(
                "INSERT INTO marks (workspace_sid, complete_ms) VALUES (?, ?) ON CONFLICT (workspace_sid)"
                " DO UPDATE SET complete_ms = max(complete_ms, excluded.complete_ms)",
                (job.workspace_sid, job.complete_ms),
            )
            row = _row(conn, "SELECT complete_ms FROM marks WHERE workspace_sid = ?", (job.workspace_sid,))
        except Exception as exc:
            self._rollback(conn)
            job.future.set_exception(EventLogWriteError(f"mark not stored: {exc}"))
            return
        self._after_write(conn)
        job.future.set_result(row[0])

    def _catch_up(self, conn: sqlite3.Connection) -> None:
        """Before a write: if the checkpointer left only a few frames of a long WAL uncopied, copy them, so
        that this write restarts the WAL from its beginning (module docstring)."""
        if not self._wal_nearly_copied:
            return
        self._wal_nearly_copied = False
        self._wal_long = False
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:
            _log.warning("event_log.checkpoint_failed", path=str(self._path), error=str(exc))
            return
        self._wal_restarts += 1

    def _after_write(self, conn: sqlite3.Connection) -> None:
        self._wal_written.set()

    def _unpark(self) -> None:
        job = self._take_parked()
        if job is not None:
            self._queue.put(job)

    def _take_parked(self) -> _Prune | None:
        with self._parked_lock:
            job, self._parked = self._parked, None
        return job

    def _checkpointer_main(self) -> None:
        try:
            conn = sqlite3.connect(self._path, isolation_level=None, timeout=10.0)
            db_fd = os.open(self._path, os.O_RDONLY | os.O_CLOEXEC)
        except (sqlite3.Error, OSError) as exc:
            _log.error("event_log.checkpointer_failed", path=str(self._path), error=str(exc))
            return
        try:
            while True:
                self._wal_written.wait()
                if self._checkpointer_stop.is_set():
                    return  # close: the writer's connection, closing last, checkpoints what is left
                self._wal_written.clear()
                chunks_before = self._prune_chunks
                try:
                    _busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    # SQLite syncs the database file only after a pass that reached the WAL's end, which a pass
                    # during a prune never does: the copied pages would pile up, dirty, for the writer's next
                    # full checkpoint to flush (150 ms and more at 5 million events). Flush each pass's here.
                    if copied > 0:
                        os.fdatasync(db_fd)
                except (sqlite3.Error, OSError) as exc:
                    _log.warning("event_log.checkpoint_failed", path=str(self._path), error=str(exc))
                    frames = copied = 0
                self._checkpoints += 1
                self._wal_long = frames >= _WAL_RESTART_FRAMES
                if self._wal_long:
                    if self._prune_chunks != chunks_before:
                        continue  # a prune chunk wrote during this pass (and woke us): copy that too
                    if copied < frames:  # a reader's snapshot held some frames back: try again shortly
                        self._wal_written.set()
                        if self._checkpointer_stop.wait(_CHECKPOINT_RETRY_S):
                            return
                        continue
                    self._wal_nearly_copied = True  # only appends wrote since this pass began
                self._unpark()  # a prune waiting for this pass (it may also cut a prune's rest short)
                if self._checkpointer_stop.wait(_CHECKPOINT_PAUSE_S):
                    return
        finally:
            os.close(db_fd)
            conn.close()

    def _prune_step(self, conn: sqlite3.Connection, job: _Prune) -> None:
        if not job.future.running() and not job.future.set_running_or_notify_cancel():
            return
        try:
            if job.keep_from is None:
                job.keep_from = self._prune_boundary(conn)
                if self._retention.max_bytes is not None:
                    job.bytes_to_free = max(0, self._total_bytes - self._retention.max_bytes)
            first = _row(conn, "SELECT min(seq) FROM events")[0]
            if first is None or (first >= job.keep_from and job.bytes_to_free <= 0):
                self._prune_done(job)
                return
            if self._wal_long and not self._wal_nearly_copied and not self._stopping:
                with self._parked_lock:
                    self._parked = job
                self._pruning = True
                self._prune_pauses += 1
                self._wal_written.set()  # a checkpointer pass requeues the prune once the WAL is nearly copied
                return
            self._catch_up(conn)
            rows = self._chunk_rows
            started = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            # This chunk's rows, oldest first; stop where both the age/count boundary and the bytes are reached.
            sizes = conn.execute(
                "SELECT seq, size FROM events WHERE seq >= ? ORDER BY seq LIMIT ?", (first, rows)
            ).fetchall()
            upto, freed = first, 0
            for seq, size in sizes:
                if seq >= job.keep_from and freed >= job.bytes_to_free:
                    break
                freed += size
                upto = seq + 1
            removed = conn.execute("DELETE FROM events WHERE seq < ?", (upto,)).rowcount if upto > first else 0
            total = self._total_bytes - freed
            if removed:
                conn.execute("UPDATE log_state SET total_bytes = ? WHERE id = 1", (total,))
            conn.execute("COMMIT")
            elapsed = time.perf_counter() - started
        except Exception as exc:
            self._rollback(conn)
            self._pruning = False
            job.future.set_exception(EventLogWriteError(f"prune failed: {exc}"))
            return
        self._total_bytes = total
        self._pruned += removed
        self._after_write(conn)
        self._prune_chunks += 1
        self._longest_prune_chunk_s = max(self._longest_prune_chunk_s, elapsed)
        job.removed += removed
        job.bytes_to_free -= freed
        self._adapt_chunk(rows, removed, elapsed)
        if sizes and upto > sizes[-1][0] and len(sizes) == rows:
            self._pruning = True
            if self._prune_rest > 0 and not self._stopping:
                # Rest as long as the chunk took (times prune_rest) so the disk is not saturated: the WAL
                # fsync every append waits for queues behind a prune's writes and its checkpoints.
                with self._parked_lock:
                    self._parked = job
                timer = threading.Timer(elapsed * self._prune_rest, self._unpark)
                timer.daemon = True
                timer.start()
            else:
                self._queue.put(job)  # next chunk after whatever appends queued meanwhile
        else:
            self._prune_done(job)  # stopped inside this chunk: the boundary is reached, or nothing is left

    def _prune_done(self, job: _Prune) -> None:
        self._pruning = False
        job.future.set_result(job.removed)

    def _adapt_chunk(self, rows: int, removed: int, elapsed: float) -> None:
        """Sizes the next chunk to take about prune_chunk_ms: shrinks at once when a chunk ran long, grows by
        at most half per step (cost per row is not linear: a big chunk also pays a WAL checkpoint). A chunk
        that ran short, because the boundary was reached inside it, says nothing about a full one's cost."""
        if removed < rows and elapsed <= self._prune_chunk_s:
            return
        scale = self._prune_chunk_s / max(elapsed, 1e-6)
        wanted = int(rows * min(scale, 1.5))
        self._chunk_rows = max(min(_MIN_CHUNK_ROWS, self._prune_chunk), min(wanted, self._prune_chunk))

    def _prune_boundary(self, conn: sqlite3.Connection) -> int:
        """The first seq to keep by age and row count (last_seq + 1 removes everything); bytes go by chunk."""
        policy = self._retention
        keep_from = 0
        if policy.max_age_ms is not None:
            keep_from = self._first_received_at_or_after(conn, self._clock_ms() - policy.max_age_ms)
        if policy.max_rows is not None:
            keep_from = max(keep_from, self._last_seq - policy.max_rows + 1)
        return keep_from

    def _first_received_at_or_after(self, conn: sqlite3.Connection, cutoff_ms: int) -> int:
        """The first seq received at/after cutoff_ms, or last_seq + 1. received_ms never decreases with seq
        (appends clamp it even when the wall clock steps back), so a binary search over seq finds it with
        about 23 primary-key lookups at 5 million events, where a scan would read every expired row."""
        lo = _row(conn, "SELECT min(seq) FROM events")[0]
        hi = self._last_seq + 1
        if lo is None:
            return hi
        while lo < hi:  # invariant: every retained seq below lo is older than cutoff; the answer is <= hi
            mid = (lo + hi) // 2
            row = _row(conn, "SELECT seq, received_ms FROM events WHERE seq >= ? ORDER BY seq LIMIT 1", (mid,))
            if row is None or row[1] >= cutoff_ms:
                hi = mid
            else:
                lo = row[0] + 1
        return lo

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # SQLite already rolled back (e.g. after SQLITE_FULL); nothing more to undo

    def _fail_queued(self, exc: EventLogError) -> None:
        appends: list[_Append] = []
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(job, _Append):
                appends.append(job)
            elif job is not _STOP and (job.future.running() or job.future.set_running_or_notify_cancel()):  # _Prune, _Mark
                job.future.set_exception(exc)
        parked = self._take_parked()
        if parked is not None:
            parked.future.set_exception(exc)
        if appends:
            self._to_loop(self._fail, appends, exc)

    # -- writes (event loop side) ------------------------------------------------------------------

    async def append(self, events: Sequence[NewEvent]) -> list[AppendResult]:
        self._require_open()
        events = list(events)
        for ev in events:
            if not isinstance(ev, NewEvent):
                raise TypeError(f"append takes NewEvent items, got {type(ev).__name__}")
        if not events:
            return []
        future: asyncio.Future[list[AppendResult]] = asyncio.get_running_loop().create_future()
        self._queue.put(_Append(events, future))
        return await future

    def add_commit_listener(self, listener: Callable[[list[StoredEvent]], None]) -> bool:
        self._listeners.append(listener)
        return True

    async def prune(self) -> int:
        self._require_open()
        policy = self._retention
        if policy.max_age_ms is None and policy.max_rows is None and policy.max_bytes is None:
            return 0
        future: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._queue.put(_Prune(future))
        return await asyncio.wrap_future(future)

    def _require_open(self) -> None:
        if self._state != "open":
            raise EventLogClosed(f"event log {self._path} is not open (state: {self._state})")
        if self._writer_done.done():
            raise EventLogClosed(f"event log {self._path}: its writer has stopped")

    # -- reads (reader pool) -----------------------------------------------------------------------

    async def _read(self, fn: Callable[..., Any], *args: Any) -> Any:
        self._require_open()
        assert self._readers is not None
        return await asyncio.get_running_loop().run_in_executor(self._readers, fn, *args)

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._reader_local, "conn", None)
        if conn is None:
            # check_same_thread=False only so close() can close it from another thread once the pool is idle.
            conn = sqlite3.connect(self._path, isolation_level=None, timeout=10.0, check_same_thread=False)
            conn.execute("PRAGMA query_only=ON")
            self._reader_local.conn = conn
            with self._reader_conns_lock:
                self._reader_conns.append(conn)
        return conn

    async def read_after(self, seq: int, *, limit: int, workspace_sid: str | None = None) -> list[StoredEvent]:
        check_read_after(seq, limit, workspace_sid)
        return await self._read(self._read_after, seq, limit, workspace_sid)

    def _read_after(self, seq: int, limit: int, workspace_sid: str | None) -> list[StoredEvent]:
        if workspace_sid is None:
            sql = f"SELECT {_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?"
            params: tuple[Any, ...] = (seq, limit)
        else:
            sql = (
                f"SELECT {_COLUMNS} FROM events INDEXED BY events_by_workspace"
                " WHERE workspace_sid = ? AND seq > ? ORDER BY seq LIMIT ?"
            )
            params = (workspace_sid, seq, limit)
        return [StoredEvent(*row) for row in self._reader().execute(sql, params).fetchall()]

    async def seq_at_or_after(self, event_date_ms: int) -> int:
        check_date(event_date_ms)
        return await self._read(self._seq_at_or_after, event_date_ms)

    def _seq_at_or_after(self, event_date_ms: int) -> int:
        # Resumes are mostly "since a little while ago": walk the date index from that time forward rather
        # than the table from its oldest row (the planner's pick without statistics).
        first, last = _row(
            self._reader(),
            "SELECT (SELECT min(seq) FROM events INDEXED BY events_by_date WHERE event_date_ms >= ?),"
            " (SELECT last_seq FROM log_state)",
            (event_date_ms,),
        )
        return last if first is None else first - 1

    async def last_seq(self) -> int:
        self._require_open()
        return self._last_seq

    async def first_seq(self) -> int:
        return await self._read(self._first_seq)

    def _first_seq(self) -> int:
        # One statement, one snapshot: an append between two reads cannot skew the answer.
        first, last = _row(
            self._reader(), "SELECT (SELECT min(seq) FROM events), (SELECT last_seq FROM log_state)"
        )
        return last + 1 if first is None else first

    async def newest_event_date_ms(self, workspace_sid: str) -> int | None:
        check_text("workspace_sid", workspace_sid)
        return await self._read(self._newest_event_date_ms, workspace_sid)

    def _newest_event_date_ms(self, workspace_sid: str) -> int | None:
        # Newest first along the date index, stopping at the workspace's first: quick for any active workspace,
        # and no second (workspace, date) index for every append to maintain.
        row = _row(
            self._reader(),
            "SELECT event_date_ms FROM events INDEXED BY events_by_date WHERE workspace_sid = ?"
            " ORDER BY event_date_ms DESC LIMIT 1",
            (workspace_sid,),
        )
        return None if row is None else row[0]

    async def complete_until_ms(self, workspace_sid: str) -> int | None:
        check_text("workspace_sid", workspace_sid)
        row = await self._read(
            lambda: _row(self._reader(), "SELECT complete_ms FROM marks WHERE workspace_sid = ?", (workspace_sid,))
        )
        return None if row is None else int(row[0])

    async def mark_complete_until(self, workspace_sid: str, event_date_ms: int) -> int:
        check_text("workspace_sid", workspace_sid)
        check_date(event_date_ms)
        self._require_open()
        future: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._queue.put(_Mark(workspace_sid, event_date_ms, future))
        return await asyncio.wrap_future(future)

    async def get(self, sid: str) -> StoredEvent | None:
        check_text("sid", sid)
        return await self._read(self._get, sid)

    def _get(self, sid: str) -> StoredEvent | None:
        row = _row(self._reader(), f"SELECT {_COLUMNS} FROM events WHERE sid = ?", (sid,))
        return None if row is None else StoredEvent(*row)


def _row(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> Any:
    """The first row, or None. fetchall() runs the statement to its end, so no snapshot stays pinned."""
    rows = conn.execute(sql, params).fetchall()
    return rows[0] if rows else None

