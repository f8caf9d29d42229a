"""Event sids and their seqs kept on disk (a private temporary SQLite database), for deduplicating a backfill of any
size in bounded memory. SQLite keeps a temporary database in its page cache and spills it to a file that is
removed when the set is closed. Blocking: call from a thread (asyncio.to_thread)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable

_CHUNK = 500  # sids per "IN (...)" lookup; SQLite's floor is 999 variables


class SidSet:  # noqa: D101 - see the module docstring
    def __init__(self, *, cache_kib: int = 8 * 1024) -> None:
        # "" names a private temporary database; check_same_thread=False since asyncio.to_thread may pick any
        # worker thread (the lock keeps one at a time).
        self._db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
        self._db.execute(f"PRAGMA cache_size=-{int(cache_kib)}")
        self._db.execute("CREATE TABLE sids (sid TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID")
        self._lock = threading.Lock()
        self._closed = False
        self.size = 0

    def add(self, pairs: Iterable[tuple[str, int]]) -> None:
        """(sid, seq) pairs; a sid already present keeps its first seq. A closed set takes nothing: its dedup
        scope has ended, so an append that stored these events meanwhile has no one left to tell."""
        rows = list(pairs)
        if not rows:
            return
        with self._lock:
            if self._closed:
                return
            self._db.execute("BEGIN")
            before = self._db.total_changes
            self._db.executemany("INSERT OR IGNORE INTO sids (sid, seq) VALUES (?, ?)", rows)
            self.size += self._db.total_changes - before
            self._db.execute("COMMIT")

    def seqs_of(self, sids: Iterable[str]) -> dict[str, int]:
        """sid -> seq for those of `sids` that are present."""
        unique = list(dict.fromkeys(sids))
        found: dict[str, int] = {}
        with self._lock:
            for i in range(0, len(unique), _CHUNK):
                chunk = unique[i : i + _CHUNK]
                marks = ",".join("?" * len(chunk))
                found.update(self._db.execute(f"SELECT sid, seq FROM sids WHERE sid IN ({marks})", chunk).fetchall())
        return found

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._db.close()
