"""The JetStream log's ordered consumer on its own: what its listeners, gap listeners and readiness see as
messages arrive, arrive again, skip ahead, or stop.

The messages are handed to the consumer's callback directly, in the order a test chooses (a redelivery, a
gap with events still waiting to be handed over), and the stream's bounds come from a script. The real-server
tests are in test_event_log_jetstream.py and test_event_log_jetstream_gaps.py."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace

import nats.errors
import pytest

from taskrouter_gateway.eventlog.jetstream import codec
from taskrouter_gateway.eventlog.jetstream.consumer import Consumer
from taskrouter_gateway.eventlog.jetstream.lifecycle import Lifecycle
from taskrouter_gateway.eventlog.jetstream.options import StreamOptions
from taskrouter_gateway.eventlog.log import EventLogClosed, NewEvent

WHEN = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


class Stream:
    """The connection as the consumer uses it: the stream's bounds, and a subscription to let go of."""

    def __init__(self) -> None:
        self.first, self.last = 1, 0
        self.bounds_asked = asyncio.Event()
        self.unsubscribe_error: BaseException | None = None
        self.unsubscribed = 0
        self.js = SimpleNamespace(subscribe=self._subscribe)

    async def bounds(self) -> tuple[int, int]:
        self.bounds_asked.set()
        return self.first, self.last

    async def _subscribe(self, subject: str, **_: object) -> SimpleNamespace:
        return SimpleNamespace(unsubscribe=self._unsubscribe)

    async def _unsubscribe(self) -> None:
        self.unsubscribed += 1
        if self.unsubscribe_error is not None:
            raise self.unsubscribe_error


class Lead:
    def __init__(self) -> None:
        self.seen: list[int] = []

    def saw(self, lead_ms: int) -> None:
        self.seen.append(lead_ms)


def _msg(seq: int) -> SimpleNamespace:
    data = codec.encode(NewEvent(f"EV{seq:032d}", "WSA", "worker.created", "WK1", 1_000 * seq, b"{}"))
    meta = SimpleNamespace(sequence=SimpleNamespace(stream=seq), timestamp=WHEN)
    return SimpleNamespace(data=data, metadata=meta)


class Journal:
    """What the listeners heard, in order: a list of seqs per hand-over, ("gap", first, last) per gap."""

    def __init__(self) -> None:
        self.entries: list[object] = []
        self.changed = asyncio.Event()

    def events(self, events: list) -> None:
        self.entries.append([e.seq for e in events])
        self.changed.set()

    def gap(self, first: int, last: int) -> None:
        self.entries.append(("gap", first, last))
        self.changed.set()

    async def until(self, count: int) -> list[object]:
        while len(self.entries) < count:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), 10)
        return self.entries


@pytest.fixture
def stream() -> Stream:
    return Stream()


@pytest.fixture
def journal() -> Journal:
    return Journal()


def _consumer(stream: Stream, journal: Journal, *, position: int = 0, read_timeout_s: float = 5.0) -> Consumer:
    lifecycle = Lifecycle()
    lifecycle.state = "open"
    return Consumer(stream, StreamOptions(), lifecycle, Lead(), position=position, cache_size=100,  # type: ignore[arg-type]
                    read_timeout_s=read_timeout_s, listeners=[journal.events], gap_listeners=[journal.gap])


async def _deliver(consumer: Consumer, *seqs: int) -> None:
    """Messages back to back, in one turn of the event loop, as a burst from the broker arrives."""
    for seq in seqs:
        await consumer._on_msg(_msg(seq))  # type: ignore[arg-type]


async def test_a_burst_reaches_the_listeners_as_one_list_and_a_redelivery_not_at_all(stream, journal):
    consumer = _consumer(stream, journal)
    await _deliver(consumer, 1, 2, 2, 3)
    assert await journal.until(1) == [[1, 2, 3]]
    await _deliver(consumer, 3, 4)
    assert await journal.until(2) == [[1, 2, 3], [4]]
    assert consumer.recent.position == 4 and consumer.gaps == 0


async def test_events_before_a_gap_reach_the_listeners_before_the_gap_does(stream, journal):
    consumer = _consumer(stream, journal)
    stream.first, stream.last = 5, 5
    await _deliver(consumer, 1, 2, 5)  # 3 and 4 were removed by retention before this replica read them
    assert await journal.until(3) == [[1, 2], ("gap", 3, 4), [5]]
    assert consumer.gaps == 1


async def test_a_fresh_consumer_on_an_empty_stream_is_ready(stream, journal):
    consumer = _consumer(stream, journal)
    assert consumer.not_ready_reason() is None
    assert (await consumer.fresh()).position == 0


async def test_after_a_gap_the_consumer_is_not_ready_until_it_reads_what_the_stream_then_held(stream, journal):
    consumer = _consumer(stream, journal)
    stream.first, stream.last = 4, 6
    await _deliver(consumer, 1, 4)
    await asyncio.wait_for(stream.bounds_asked.wait(), 10)  # the catch-up task learns the stream ends at 6
    assert "at seq 4 of 6" in (consumer.not_ready_reason() or "")
    await _deliver(consumer, 5, 6)
    await journal.until(4)
    while consumer.not_ready_reason() is not None:  # the catch-up task sees position 6 on its next turn
        await asyncio.sleep(0)
    assert consumer.recent.position == 6


async def test_stopping_a_catch_up_under_way_returns_quietly(stream, journal):
    consumer = _consumer(stream, journal)
    stream.first, stream.last = 4, 9
    await _deliver(consumer, 1, 4)  # a gap: the catch-up task waits for seq 9, which never comes
    await asyncio.wait_for(stream.bounds_asked.wait(), 10)
    await consumer.stop_catching_up()
    assert consumer._catch_up is not None and consumer._catch_up.cancelled()


async def test_an_append_acked_ahead_of_the_consumer_makes_fresh_reads_wait_for_it(stream, journal):
    consumer = _consumer(stream, journal)
    consumer.acked(2)
    consumer.acked(1)  # an older ack never lowers what reads wait for
    read = asyncio.ensure_future(consumer.fresh())
    await _deliver(consumer, 1)
    await asyncio.sleep(0)
    assert not read.done()
    await _deliver(consumer, 2)
    assert (await asyncio.wait_for(read, 10)).position == 2


async def test_reads_still_waiting_fail_when_the_log_closes(stream, journal):
    consumer = _consumer(stream, journal)
    consumer.acked(1)
    read = asyncio.ensure_future(consumer.fresh())
    while not consumer._waiters:
        await asyncio.sleep(0)
    consumer.fail_waiters()
    with pytest.raises(EventLogClosed):
        await read


async def test_unsubscribing_on_a_dead_connection_lets_the_subscription_go_quietly(stream, journal):
    consumer = _consumer(stream, journal)
    await consumer.subscribe()
    stream.unsubscribe_error = nats.errors.ConnectionClosedError()
    await consumer.unsubscribe()
    await consumer.unsubscribe()  # already let go: nothing more to release
    assert stream.unsubscribed == 1
