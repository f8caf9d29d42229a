"""The EventLog interface itself (eventlog/log.py), apart from any backend: what a backend must implement, the
defaults it inherits, the value types' contracts, and run_retention's loop.

A minimal backend in memory stands in for SQLite and JetStream (they are tested against the contract in
test_event_log_contract.py); here only what the base class promises is under test."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

import pytest
import structlog

from taskrouter_gateway.eventlog.log import (
    AppendResult,
    EventLog,
    EventLogClosed,
    EventLogError,
    EventLogWriteError,
    NewEvent,
    Retention,
    StoredEvent,
    check_date,
    check_read_after,
    run_retention,
)

ABSTRACT = ("open", "close", "append", "read_after", "seq_at_or_after", "last_seq", "first_seq",
            "complete_until_ms", "mark_complete_until", "get", "prune")


class Minimal(EventLog):
    """Every abstract method, and nothing else: what a new backend inherits is the base class's."""

    def __init__(self) -> None:
        self.opened = self.closed = False
        self.prunes: list[int | Exception] = []  # what each prune() returns or raises, in turn

    async def open(self) -> None:
        self.opened = True
        self._log_id = "minimal"

    async def close(self) -> None:
        self.closed = True

    async def append(self, events: Sequence[NewEvent]) -> list[AppendResult]:
        return []

    async def read_after(self, seq: int, *, limit: int, workspace_sid: str | None = None) -> list[StoredEvent]:
        return []

    async def seq_at_or_after(self, event_date_ms: int) -> int:
        return 0

    async def last_seq(self) -> int:
        return 0

    async def first_seq(self) -> int:
        return 1

    async def complete_until_ms(self, workspace_sid: str) -> int | None:
        return None

    async def mark_complete_until(self, workspace_sid: str, event_date_ms: int) -> int:
        return event_date_ms

    async def get(self, sid: str) -> StoredEvent | None:
        return None

    async def prune(self) -> int:
        outcome = self.prunes.pop(0) if self.prunes else EventLogClosed("closed")
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


@pytest.mark.parametrize("missing", ABSTRACT)
def test_a_backend_missing_any_required_method_cannot_be_made(missing: str) -> None:
    # Found at construction, not at the first call in production.
    incomplete = type("Incomplete", (Minimal,), {missing: getattr(EventLog, missing)})
    with pytest.raises(TypeError, match=missing):
        incomplete()


async def test_the_defaults_a_backend_inherits() -> None:
    log = Minimal()
    with pytest.raises(EventLogClosed, match="not been opened"):
        _ = log.log_id
    async with log as entered:
        assert entered is log and log.opened and log.log_id == "minimal"
        assert await log.newest_event_date_ms("WS1") is None
        assert log.add_commit_listener(lambda events: None) is False  # readers poll instead
        log.add_gap_listener(lambda first, last: None)  # accepted, never called
        assert log.not_ready_reason() is None
        ran = []
        async with log.exclusive("backfill.WS1"):
            async with log.dedup_scope("WS1", 0):
                ran.append("body")
        assert ran == ["body"]
    assert log.closed


def test_events_and_results_are_immutable_hashable_values() -> None:
    event = NewEvent("EV1", "WS1", "task.created", "", 5, b"x")
    stored = StoredEvent(1, "EV1", "WS1", "task.created", "", 5, 7, b"x")
    for value in (event, stored, AppendResult(1, False), Retention()):
        assert hash(value) == hash(dataclasses.replace(value))  # equal values, one hash: usable as keys
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, dataclasses.fields(value)[0].name, None)


def test_argument_checks_name_the_argument_and_accept_the_edges() -> None:
    check_read_after(0, 1, None)  # 0 is "before everything", a limit of 1 the smallest
    check_read_after(5, 100, "WS1")
    with pytest.raises(TypeError, match="seq must be an int, got bool"):
        check_read_after(True, 1, None)
    with pytest.raises(ValueError, match="seq must be >= 0, got -1"):
        check_read_after(-1, 1, None)
    with pytest.raises(ValueError, match="limit must be an int >= 1, got 0"):
        check_read_after(0, 0, None)
    with pytest.raises(ValueError, match="limit must be an int >= 1, got True"):
        check_read_after(0, True, None)
    with pytest.raises(ValueError, match="workspace_sid must be a non-empty str or None"):
        check_read_after(0, 1, "")
    check_date(0)
    with pytest.raises(TypeError, match="event_date_ms must be an int, got bool"):
        check_date(False)
    assert NewEvent("EV1", "WS1", "task.created", "", 0, b"").event_date_ms == 0  # the epoch itself is a date


def test_retention_limits_of_one_are_allowed_and_zero_is_not() -> None:
    assert Retention(max_age_ms=1, max_rows=1, max_bytes=1).max_rows == 1
    with pytest.raises(ValueError, match=r"Retention.max_age_ms must be > 0 \(or None for no limit\), got 0"):
        Retention(max_age_ms=0)
    with pytest.raises(TypeError, match="Retention.max_rows must be an int or None, got bool"):
        Retention(max_rows=True)


async def test_run_retention_goes_on_after_a_failed_pass_and_ends_when_the_log_closes() -> None:
    log = Minimal()
    log.prunes = [3, EventLogWriteError("disk full"), 0, 2, EventLogClosed("closed")]
    passes: list[int] = []
    with structlog.testing.capture_logs() as logged:
        await asyncio.wait_for(run_retention(log, 0.001, on_pass=passes.append), 10)
    assert passes == [3, 0, 2]  # the failure is skipped, not reported as a pass; the loop went on
    assert log.prunes == []
    # The operator sees the failure and each pass that removed something; a pass with nothing to do is quiet.
    assert [(e["event"], e.get("removed"), e.get("error")) for e in logged] == [
        ("event_log.pruned", 3, None), ("event_log.prune_failed", None, "disk full"), ("event_log.pruned", 2, None),
    ]
    for bad in (0, -1.0):
        with pytest.raises(ValueError, match="interval_seconds must be > 0"):
            await run_retention(log, bad)


async def test_run_retention_without_a_pass_callback_still_prunes() -> None:
    log = Minimal()
    log.prunes = [1, 1]
    await asyncio.wait_for(run_retention(log, 0.001), 10)
    assert log.prunes == []


def test_errors_of_the_log_share_one_base() -> None:
    assert issubclass(EventLogClosed, EventLogError) and issubclass(EventLogWriteError, EventLogError)
