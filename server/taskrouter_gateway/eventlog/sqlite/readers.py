"""The reader pool: a few threads, each with its own read-only connection, answering the log's queries.

In WAL mode readers never wait for the writer nor it for them; each statement reads one snapshot.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ..log import StoredEvent
from .schema import COLUMNS, row

T = TypeVar("T")


class ReaderPool:
    def __init__(self, path: Path, *, threads: int) -> None:
        self._path = path
        self._threads = threads
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()

    def start(self) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=self._threads, thread_name_prefix=f"event-log-reader:{self._path.name}"
        )

    async def close(self) -> None:
        """Waits for the queries under way, then closes every connection."""
        if self._pool is not None:
            await asyncio.to_thread(self._pool.shutdown, wait=True)
        with self._conns_lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        assert self._pool is not None
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # check_same_thread=False only so close() can close it from another thread once the pool is idle.
            conn = sqlite3.connect(self._path, isolation_level=None, timeout=10.0, check_same_thread=False)
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    async def read_after(self, seq: int, limit: int, workspace_sid: str | None) -> list[StoredEvent]:
        return await self._run(self._read_after, seq, limit, workspace_sid)

    def _read_after(self, seq: int, limit: int, workspace_sid: str | None) -> list[StoredEvent]:
        if workspace_sid is None:
            sql = f"SELECT {COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?"
            params: tuple[Any, ...] = (seq, limit)
        else:
            sql = (
                f"SELECT {COLUMNS} FROM events INDEXED BY events_by_workspace"
                " WHERE workspace_sid = ? AND seq > ? ORDER BY seq LIMIT ?"
            )
            params = (workspace_sid, seq, limit)
        return [StoredEvent(*found) for found in self._conn().execute(sql, params).fetchall()]

    async def seq_at_or_after(self, event_date_ms: int) -> int:
        return await self._run(self._seq_at_or_after, event_date_ms)

    def _seq_at_or_after(self, event_date_ms: int) -> int:
        # Resumes are mostly "since a little while ago": walk the date index from that time forward rather
        # than the table from its oldest row (the planner's pick without statistics).
        first, last = row(
            self._conn(),
            "SELECT (SELECT min(seq) FROM events INDEXED BY events_by_date WHERE event_date_ms >= ?),"
            " (SELECT last_seq FROM log_state)",
            (event_date_ms,),
        )
        return last if first is None else first - 1

    async def first_seq(self) -> int:
        return await self._run(self._first_seq)

    def _first_seq(self) -> int:
        # One statement, one snapshot: an append between two reads cannot skew the answer.
        first, last = row(self._conn(), "SELECT (SELECT min(seq) FROM events), (SELECT last_seq FROM log_state)")
        return last + 1 if first is None else first

    async def newest_event_date_ms(self, workspace_sid: str) -> int | None:
        return await self._run(self._newest_event_date_ms, workspace_sid)

    def _newest_event_date_ms(self, workspace_sid: str) -> int | None:
        # Newest first along the date index, stopping at the workspace's first: quick for any active workspace,
        # and no second (workspace, date) index for every append to maintain.
        found = row(
            self._conn(),
            "SELECT event_date_ms FROM events INDEXED BY events_by_date WHERE workspace_sid = ?"
            " ORDER BY event_date_ms DESC LIMIT 1",
            (workspace_sid,),
        )
        return None if found is None else found[0]

    async def complete_until_ms(self, workspace_sid: str) -> int | None:
        found = await self._run(
            lambda: row(self._conn(), "SELECT complete_ms FROM marks WHERE workspace_sid = ?", (workspace_sid,))
        )
        return None if found is None else int(found[0])

    async def get(self, sid: str) -> StoredEvent | None:
        return await self._run(self._get, sid)

    def _get(self, sid: str) -> StoredEvent | None:
        found = row(self._conn(), f"SELECT {COLUMNS} FROM events WHERE sid = ?", (sid,))
        return None if found is None else StoredEvent(*found)
