"""EventLog on one SQLite file in WAL mode: a writer thread with group commit, plus a pool of reader threads.

Durability: append() resolves only after COMMIT. With synchronous="FULL" (the default) SQLite fsyncs the WAL
at every commit, so an acknowledged event survives a process crash and a power loss. synchronous="NORMAL"
skips that fsync: acknowledged events survive a process crash but the last ones can vanish on power loss or
an OS crash; use it for benchmarks only.

The log object owns its parts and starts and stops them; each module's docstring says why it works as it does:
- writer.py: the writer thread, the only one that writes, with group commit and the hand-off to the event loop;
- pruner.py: retention, in chunks that let appends through, run by the writer thread;
- checkpointer.py: the thread that copies the WAL into the database beside the writer;
- readers.py: the reader pool that answers queries;
- jobs.py: what the event loop asks of the writer thread; schema.py: the file format; file_lock.py: see below.

One process at a time: open() takes an exclusive flock on "<path>.lock" and fails clearly if another log
object (in this or another process) holds it; the kernel drops the lock when a process dies.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import structlog

from ..log import (
    AppendResult,
    EventLog,
    EventLogClosed,
    EventLogError,
    EventLogOpenError,
    NewEvent,
    Retention,
    StoredEvent,
    check_date,
    check_read_after,
    check_text,
)
from .checkpointer import Checkpointer
from .file_lock import FileLock
from .jobs import STOP, Append, JobQueue, Mark, Prune
from .pruner import Pruner
from .readers import ReaderPool
from .schema import APPLICATION_ID, SCHEMA_VERSION, Synchronous
from .writer import Writer

__all__ = ["APPLICATION_ID", "SCHEMA_VERSION", "LogStats", "SqliteEventLog", "Synchronous", "wall_clock_ms"]

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
        self._state: Literal["new", "opening", "open", "closing", "closed"] = "new"
        self._closing: asyncio.Future[None] | None = None
        self._lock = FileLock(self._path)
        self._jobs = JobQueue()
        self._wal = Checkpointer(self._path, after_pass=self._jobs.unpark)
        self._pruner = Pruner(
            retention, chunk=prune_chunk, chunk_ms=prune_chunk_ms, rest=prune_rest, clock_ms=clock_ms,
            jobs=self._jobs, wal=self._wal,
        )
        self._writer = Writer(
            self._path, synchronous=synchronous, max_batch=max_batch, clock_ms=clock_ms, jobs=self._jobs,
            pruner=self._pruner, wal=self._wal,
        )
        self._readers = ReaderPool(self._path, threads=readers)

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self._path

    @property
    def stats(self) -> LogStats:
        writer, pruner, wal = self._writer, self._pruner, self._wal
        return LogStats(
            writer.commits, writer.appended, writer.duplicates, pruner.pruned, pruner.chunks,
            writer.commits_during_prune, pruner.longest_chunk_s * 1000, wal.passes, pruner.pauses, wal.restarts,
        )

    async def open(self) -> None:
        if self._state != "new":
            raise EventLogError(f"event log {self._path} can be opened once (state: {self._state})")
        self._state = "opening"
        try:
            self._check_path()
            self._lock.take()
            opened: concurrent.futures.Future[None] = concurrent.futures.Future()
            self._writer.start(asyncio.get_running_loop(), opened)
            await asyncio.wrap_future(opened)
        except BaseException:
            self._jobs.put(STOP)  # if open() was cancelled while the writer was still starting
            self._lock.release()
            self._state = "closed"
            raise
        self._log_id = self._writer.log_id
        self._readers.start()
        self._state = "open"
        _log.info(
            "event_log.opened", path=str(self._path), log_id=self._log_id, last_seq=self._writer.last_seq,
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
        # Everything queued before STOP is still written: close flushes pending appends.
        self._jobs.put(STOP)
        await asyncio.wrap_future(self._writer.done)
        await self._readers.close()
        self._lock.release()
        self._state = "closed"
        _log.info("event_log.closed", path=str(self._path), last_seq=self._writer.last_seq)

    def _check_path(self) -> None:
        parent = self._path.parent
        if not parent.is_dir():
            raise EventLogOpenError(f"event log {self._path}: directory {parent} does not exist")
        if self._path.is_dir():
            raise EventLogOpenError(f"event log {self._path} is a directory, not a database file")

    def _require_open(self) -> None:
        if self._state != "open":
            raise EventLogClosed(f"event log {self._path} is not open (state: {self._state})")
        if self._writer.done.done():
            raise EventLogClosed(f"event log {self._path}: its writer has stopped")

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
        self._jobs.put(Append(events, future))
        return await future

    def add_commit_listener(self, listener: Callable[[list[StoredEvent]], None]) -> bool:
        self._writer.add_listener(listener)
        return True

    async def prune(self) -> int:
        self._require_open()
        policy = self._retention
        if policy.max_age_ms is None and policy.max_rows is None and policy.max_bytes is None:
            return 0
        future: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._jobs.put(Prune(future))
        return await asyncio.wrap_future(future)

    async def mark_complete_until(self, workspace_sid: str, event_date_ms: int) -> int:
        check_text("workspace_sid", workspace_sid)
        check_date(event_date_ms)
        self._require_open()
        future: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._jobs.put(Mark(workspace_sid, event_date_ms, future))
        return await asyncio.wrap_future(future)

    # -- reads (reader pool) -----------------------------------------------------------------------

    async def read_after(self, seq: int, *, limit: int, workspace_sid: str | None = None) -> list[StoredEvent]:
        check_read_after(seq, limit, workspace_sid)
        self._require_open()
        return await self._readers.read_after(seq, limit, workspace_sid)

    async def seq_at_or_after(self, event_date_ms: int) -> int:
        check_date(event_date_ms)
        self._require_open()
        return await self._readers.seq_at_or_after(event_date_ms)

    async def last_seq(self) -> int:
        self._require_open()
        return self._writer.last_seq

    async def first_seq(self) -> int:
        self._require_open()
        return await self._readers.first_seq()

    async def newest_event_date_ms(self, workspace_sid: str) -> int | None:
        check_text("workspace_sid", workspace_sid)
        self._require_open()
        return await self._readers.newest_event_date_ms(workspace_sid)

    async def complete_until_ms(self, workspace_sid: str) -> int | None:
        check_text("workspace_sid", workspace_sid)
        self._require_open()
        return await self._readers.complete_until_ms(workspace_sid)

    async def get(self, sid: str) -> StoredEvent | None:
        check_text("sid", sid)
        self._require_open()
        return await self._readers.get(sid)
