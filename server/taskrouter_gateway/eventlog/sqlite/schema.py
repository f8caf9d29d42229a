"""The event log's file: its schema, the checks that a file is one (and of this version), and its state row.

Also the two statement helpers every connection of the log uses (row, rollback).
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from ..log import EventLogOpenError

# PRAGMA application_id marks the file as ours ("TRGL"); user_version is the schema version.
APPLICATION_ID: Final = 0x5452474C
SCHEMA_VERSION: Final = 2  # 2: payloads are records (eventlog.records), one index fewer

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

COLUMNS: Final = "seq, sid, workspace_sid, event_type, resource_sid, event_date_ms, received_ms, payload"

Synchronous = Literal["FULL", "NORMAL"]


@dataclass(slots=True)
class LogState:
    """Where the log stands. Loaded at open, then changed by the writer thread only; other threads only read
    it (int loads are atomic)."""

    log_id: str
    last_seq: int
    total_bytes: int  # payload bytes stored, for Retention.max_bytes
    last_received_ms: int = 0  # of the newest event: received_ms never decreases with seq


def open_for_writing(
    path: Path, synchronous: Synchronous, clock_ms: Callable[[], int]
) -> tuple[sqlite3.Connection, LogState]:
    """The writer's connection to the file (created as an empty log if it is an empty file) and its state."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=10.0)
    try:
        # A non-database file fails here ("file is not a database"), before anything is written.
        app_id = row(conn, "PRAGMA application_id")[0]
        version = row(conn, "PRAGMA user_version")[0]
        tables = row(conn, "SELECT count(*) FROM sqlite_schema")[0]
        if app_id == 0 and version == 0 and tables == 0:
            _create(conn, clock_ms)
        elif app_id != APPLICATION_ID:
            raise EventLogOpenError(f"{path} is an SQLite database but not an event log")
        elif version != SCHEMA_VERSION:
            raise EventLogOpenError(
                f"event log {path} has schema version {version}; this build reads {SCHEMA_VERSION}"
            )
        mode = row(conn, "PRAGMA journal_mode=WAL")[0]
        if str(mode).lower() != "wal":
            raise EventLogOpenError(f"event log {path}: cannot use WAL mode (got {mode!r})")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer thread copies the WAL (checkpointer.py)
        conn.execute(_MARKS_TABLE)
        state = _load_state(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn, state


def _create(conn: sqlite3.Connection, clock_ms: Callable[[], int]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in _SCHEMA:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO log_state (id, log_id, created_ms, last_seq, total_bytes) VALUES (1, ?, ?, 0, 0)",
            (secrets.token_hex(8), clock_ms()),
        )
        conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _load_state(conn: sqlite3.Connection, path: Path) -> LogState:
    found = row(conn, "SELECT log_id, last_seq, total_bytes FROM log_state WHERE id = 1")
    if found is None:
        raise EventLogOpenError(f"event log {path} is damaged: its state row is missing")
    state = LogState(*found)
    newest = row(conn, "SELECT seq, received_ms FROM events ORDER BY seq DESC LIMIT 1")
    if newest is not None:
        if newest[0] > state.last_seq:
            raise EventLogOpenError(f"event log {path} is damaged: seq {newest[0]} beyond last_seq")
        state.last_received_ms = newest[1]
    return state


def row(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> Any:
    """The first row, or None. fetchall() runs the statement to its end, so no snapshot stays pinned."""
    rows = conn.execute(sql, params).fetchall()
    return rows[0] if rows else None


def rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # SQLite already rolled back (e.g. after SQLITE_FULL); nothing more to undo
