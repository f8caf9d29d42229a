"""The JetStream log's state: reads are refused unless the log is open or opening, except for the appends that
closing lets finish; closing can wait for those appends to end."""

from __future__ import annotations

import asyncio

import pytest

from taskrouter_gateway.eventlog.jetstream.lifecycle import Lifecycle
from taskrouter_gateway.eventlog.log import EventLogClosed


async def _stepped(task: asyncio.Task[None]) -> bool:
    """Whether `task` is done after the loop has run it as far as it can go without waiting (one step: no timing)."""
    await asyncio.sleep(0)
    return task.done()


def test_a_new_lifecycle_is_new_with_no_appends() -> None:
    lifecycle = Lifecycle()
    assert lifecycle.state == "new" and lifecycle.appending == 0


@pytest.mark.parametrize("state", ["opening", "open"])
@pytest.mark.parametrize("appends", [0, 1])
def test_an_opening_or_open_log_may_be_read(state: str, appends: int) -> None:
    lifecycle = Lifecycle()
    for _ in range(appends):
        lifecycle.append_started()
    lifecycle.state = state  # type: ignore[assignment]
    lifecycle.require_open()


@pytest.mark.parametrize("state", ["new", "closing", "closed"])
def test_a_log_that_is_not_open_refuses_naming_its_state(state: str) -> None:
    lifecycle = Lifecycle()
    lifecycle.state = state  # type: ignore[assignment]
    with pytest.raises(EventLogClosed, match=rf"event log is not open \(state: {state}\)"):
        lifecycle.require_open()


def test_while_closing_only_appends_still_in_flight_keep_it_readable() -> None:
    lifecycle = Lifecycle()
    lifecycle.state = "open"
    lifecycle.append_started()
    lifecycle.append_started()
    lifecycle.state = "closing"
    lifecycle.require_open()  # the accepted appends may still look for earlier copies
    lifecycle.append_ended()
    lifecycle.require_open()
    lifecycle.append_ended()
    with pytest.raises(EventLogClosed, match="state: closing"):
        lifecycle.require_open()


@pytest.mark.parametrize("state", ["new", "closed"])
def test_appends_in_flight_do_not_make_a_new_or_closed_log_readable(state: str) -> None:
    lifecycle = Lifecycle()
    lifecycle.append_started()
    lifecycle.state = state  # type: ignore[assignment]
    with pytest.raises(EventLogClosed):
        lifecycle.require_open()


def test_appending_counts_the_appends_in_progress() -> None:
    lifecycle = Lifecycle()
    for expected in (1, 2, 3):
        lifecycle.append_started()
        assert lifecycle.appending == expected
    for expected in (2, 1, 0):
        lifecycle.append_ended()
        assert lifecycle.appending == expected


async def test_with_no_append_under_way_there_is_nothing_to_wait_for() -> None:
    lifecycle = Lifecycle()
    assert await _stepped(asyncio.ensure_future(lifecycle.appends_finished()))


async def test_closing_waits_until_the_last_append_in_flight_ends() -> None:
    lifecycle = Lifecycle()
    lifecycle.append_started()
    lifecycle.append_started()
    waiting = asyncio.ensure_future(lifecycle.appends_finished())
    assert not await _stepped(waiting)
    lifecycle.append_ended()
    assert not await _stepped(waiting)
    lifecycle.append_ended()
    assert await _stepped(waiting)
    # Once more, from the start: a new append makes a new wait.
    lifecycle.append_started()
    again = asyncio.ensure_future(lifecycle.appends_finished())
    assert not await _stepped(again)
    lifecycle.append_ended()
    assert await _stepped(again)
