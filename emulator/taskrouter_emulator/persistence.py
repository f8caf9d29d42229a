"""Optional SQLite state file: every record is one row, written through in one transaction per change.

Rows hold the record's dataclass as JSON plus `seq` (the store's creation order, so lists come back in
the same order after a restart). The store stays the source of truth while running; the file is only
read at start-up.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,
    sid TEXT NOT NULL,
    workspace_sid TEXT,
    seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (kind, sid)
);
CREATE INDEX IF NOT EXISTS records_by_workspace ON records (workspace_sid);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Row:
    kind: str  # workspace | activity | worker | event | call
    sid: str
    workspace_sid: str | None
    seq: int
    data: dict


class StateFileError(RuntimeError):
    """The state file cannot be used (another account's, a newer schema, or not a state file at all)."""


class StateFile:
    def __init__(self, path: str | Path, account_sid: str) -> None:
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
            # WAL + NORMAL: a crash may lose the last change but never corrupts the file; far cheaper per write.
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._check_meta(account_sid)
        except sqlite3.DatabaseError as exc:
            raise StateFileError(f"cannot use state file {self.path}: {exc}") from exc

    def _check_meta(self, account_sid: str) -> None:
        meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        if not meta:
            self._db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [("schema_version", SCHEMA_VERSION), ("account_sid", account_sid)],
            )
            return
        if meta.get("schema_version") != SCHEMA_VERSION:
            raise StateFileError(
                f"state file {self.path} has schema {meta.get('schema_version')}, expected {SCHEMA_VERSION}"
            )
        if meta.get("account_sid") != account_sid:
            raise StateFileError(
                f"state file {self.path} belongs to account {meta.get('account_sid')}, not {account_sid}"
            )

    def load(self) -> Iterator[Row]:
        """Every row, in creation order."""
        cursor = self._db.execute("SELECT kind, sid, workspace_sid, seq, data FROM records ORDER BY seq")
        for kind, sid, workspace_sid, seq, data in cursor:
            yield Row(kind, sid, workspace_sid, seq, orjson.loads(data))

    def write(self, puts: Iterable[Row], deletes: Iterable[tuple[str, str]], dropped_workspaces: Iterable[str]) -> None:
        """Apply one change atomically."""
        db = self._db
        db.execute("BEGIN")
        try:
            for workspace_sid in dropped_workspaces:
                db.execute("DELETE FROM records WHERE workspace_sid = ?", (workspace_sid,))
            db.executemany("DELETE FROM records WHERE kind = ? AND sid = ?", list(deletes))
            db.executemany(
                "INSERT OR REPLACE INTO records (kind, sid, workspace_sid, seq, data) VALUES (?, ?, ?, ?, ?)",
                [(r.kind, r.sid, r.workspace_sid, r.seq, orjson.dumps(r.data)) for r in puts],
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()
