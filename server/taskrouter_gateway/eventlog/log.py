"""The durable, deduplicated event log the gateway appends to before acknowledging a webhook.

Backend-neutral: the services use EventLog without knowing whether SQLite or JetStream holds the events.
The log stores opaque payload bytes (a record, see eventlog.records) plus a few indexed columns; it knows no
protobuf.

Seqs are strictly increasing and gap-free per log, starting at 1; 0 means "before everything". Retention only
ever removes the oldest events, so the retained events are always the contiguous range first_seq..last_seq.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Self

import structlog

DAY_MS = 24 * 60 * 60 * 1000

_log = structlog.get_logger(__name__)


class EventLogError(Exception):
    """Base for event log failures."""


class EventLogOpenError(EventLogError):
    """The log cannot be opened: bad path, not an event log, corrupt, or already open elsewhere."""


class EventLogClosed(EventLogError):
    """The log is not open (never opened, or closing/closed)."""


class EventLogWriteError(EventLogError):
    """A write was not committed (disk full, I/O error, ...); none of its events are durable."""


def _require_str(name: str, value: object, *, allow_empty: bool = False) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if not allow_empty and not value:
        raise ValueError(f"{name} must not be empty")


def _require_ms(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int of epoch milliseconds, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")


def check_read_after(seq: object, limit: object, workspace_sid: object) -> None:
    """read_after's arguments, checked the same way by every backend."""
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise TypeError(f"seq must be an int, got {type(seq).__name__}")
    if seq < 0:
        raise ValueError(f"seq must be >= 0, got {seq}")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be an int >= 1, got {limit!r}")
    if workspace_sid is not None and (not isinstance(workspace_sid, str) or not workspace_sid):
        raise ValueError("workspace_sid must be a non-empty str or None")


def check_date(event_date_ms: object) -> None:
    if isinstance(event_date_ms, bool) or not isinstance(event_date_ms, int):
        raise TypeError(f"event_date_ms must be an int, got {type(event_date_ms).__name__}")


def check_text(name: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty str")


@dataclass(frozen=True, slots=True)
class NewEvent:
    """One event to append. Validated on construction so a bad event never reaches a shared transaction."""

    sid: str  # EV…; the dedup key
    workspace_sid: str
    event_type: str
    resource_sid: str  # may be empty: not every event names a resource
    event_date_ms: int  # when TaskRouter says it happened
    payload: bytes  # serialized once by the caller

    def __post_init__(self) -> None:
        _require_str("sid", self.sid)
        _require_str("workspace_sid", self.workspace_sid)
        _require_str("event_type", self.event_type)
        _require_str("resource_sid", self.resource_sid, allow_empty=True)
        _require_ms("event_date_ms", self.event_date_ms)
        if not isinstance(self.payload, bytes):
            raise TypeError(f"payload must be bytes, got {type(self.payload).__name__}")


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as the log holds it: NewEvent's fields plus where and when the log took it."""

    seq: int  # strictly increasing, gap-free per log, assigned at append
    sid: str
    workspace_sid: str
    event_type: str
    resource_sid: str
    event_date_ms: int
    received_ms: int  # when the log committed it; never decreases with seq
    payload: bytes


@dataclass(frozen=True, slots=True)
class AppendResult:
    seq: int  # the event's seq (the original one when duplicate)
    duplicate: bool


@dataclass(frozen=True, slots=True)
class Retention:
    """What prune() removes, oldest first; None switches a limit off.

    Age counts from received_ms (when the log took the event), not event_date_ms: received_ms never
    decreases with seq, so age-based removal is always a prefix of the log and the retained seqs stay
    contiguous. event_date_ms can be far in the past for a late webhook retry or a gap backfill; pruning by
    it would drop fresh events from the middle of the log the moment they arrive.
    """

    max_age_ms: int | None = 30 * DAY_MS
    max_rows: int | None = None
    max_bytes: int | None = None  # payload bytes; the file also holds indexes and per-row overhead

    def __post_init__(self) -> None:
        for name in ("max_age_ms", "max_rows", "max_bytes"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"Retention.{name} must be an int or None, got {type(value).__name__}")
            if value <= 0:
                raise ValueError(f"Retention.{name} must be > 0 (or None for no limit), got {value}")


class EventLog(abc.ABC):
    """A durable, deduplicated, ordered log of events. Use from one event loop."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Create or reopen the log. Raises EventLogOpenError with the reason."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish every append already accepted, then release the log. Idempotent."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @abc.abstractmethod
    async def append(self, events: Sequence[NewEvent]) -> list[AppendResult]:
        """One result per event, in order; returns only once the events are durable.

        A sid already in the log (or earlier in `events`) is not stored again: its result carries the
        original seq with duplicate=True. If the caller is cancelled, the events may or may not have been
        stored; appending them again is safe.
        """

    @abc.abstractmethod
    async def read_after(self, seq: int, *, limit: int, workspace_sid: str | None = None) -> list[StoredEvent]:
        """Up to `limit` events with seq > `seq`, in seq order, optionally of one workspace only."""

    @abc.abstractmethod
    async def seq_at_or_after(self, event_date_ms: int) -> int:
        """The seq just before the first event (in log order) dated at/after `event_date_ms`.

        read_after(result) then replays "since that time". With no such event: last_seq(), so only
        future events follow. Events dated earlier but appended later (late retries, backfill) are
        included in that replay, since replay follows log order.
        """

    @abc.abstractmethod
    async def last_seq(self) -> int:
        """The seq of the newest committed event; 0 for a log that never held one."""

    @abc.abstractmethod
    async def first_seq(self) -> int:
        """The seq of the oldest retained event; last_seq() + 1 when none is retained.

        A cursor c with c + 1 < first_seq() has lost events to retention.
        """

    async def newest_event_date_ms(self, workspace_sid: str) -> int | None:
        """A hint for a workspace with no completeness mark yet (a log written before marks existed): the
        latest event date it holds, or an approximation a backend can answer cheaply; None if unknown."""
        return None

    @abc.abstractmethod
    async def complete_until_ms(self, workspace_sid: str) -> int | None:
        """The workspace's high-water mark: the log holds every event TaskRouter dated before it (as far as
        the Events API and an unbroken run of live callbacks show). None if never recorded.

        Only a finished backfill and an unbroken run of live ingest move it (mark_complete_until); a restart
        backfills from here, however long the outage, whatever arrived since.
        """

    @abc.abstractmethod
    async def mark_complete_until(self, workspace_sid: str, event_date_ms: int) -> int:
        """Moves the mark forward, never back; durable (shared by every replica) when it returns.

        Returns the mark now in force (a concurrent writer may have moved it further)."""

    @abc.abstractmethod
    async def get(self, sid: str) -> StoredEvent | None:
        """The event with this sid, if retained."""

    @abc.abstractmethod
    async def prune(self) -> int:
        """Apply the retention policy now; returns the number of events removed."""

    def add_commit_listener(self, listener: Callable[[list[StoredEvent]], None]) -> bool:
        """Have `listener(events)` called on the loop after each commit, with the events it stored, in seq order.

        Saves readers a read-back of what was just written. False (this default): the log cannot do it, and
        readers poll read_after() instead.
        """
        return False

    def add_gap_listener(self, listener: Callable[[int, int], None]) -> None:
        """Have `listener(first_lost, last_lost)` called when this process learns that events it had not yet
        handed to commit listeners are gone (a replica that fell behind retention). This default: a log whose
        only reader is its writer never loses events that way."""
        del listener

    def not_ready_reason(self) -> str | None:
        """Why this process should not take traffic now (catching up after a gap), or None."""
        return None

    @contextlib.asynccontextmanager
    async def dedup_scope(self, workspace_sid: str, start_ms: int) -> AsyncIterator[None]:
        """Inside the body, appends of this workspace's events dated at/after `start_ms` are deduplicated
        against everything the log holds, however old (a backfill). This default: every append already is."""
        yield

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[None]:
        """Runs the body while no other process sharing this log runs a body for `name` (e.g. backfill).

        This default: a log only one process can open has no one to coordinate with.
        """
        yield

    _log_id: str | None = None  # set by open()

    @property
    def log_id(self) -> str:
        """Id fixed when the log was created and kept across restarts; cursors carry it."""
        if self._log_id is None:
            raise EventLogClosed("event log has not been opened")
        return self._log_id


async def run_retention(
    log: EventLog, interval_seconds: float, *, on_pass: Callable[[int], None] | None = None
) -> None:
    """Prune every `interval_seconds` until cancelled; the app runs this as a task next to the log.

    A failed pass is logged and retried on the next tick: retention must not stop over a transient error.
    `on_pass` receives each successful pass's removed count (metrics, tests).
    """
    if not interval_seconds > 0:
        raise ValueError(f"interval_seconds must be > 0, got {interval_seconds}")
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            removed = await log.prune()
        except EventLogClosed:
            return
        except EventLogError as exc:
            _log.warning("event_log.prune_failed", error=str(exc))
            continue
        if removed:
            _log.info("event_log.pruned", removed=removed)
        if on_pass is not None:
            on_pass(removed)
