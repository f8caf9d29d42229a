"""`since` without an index by date: a bisection over seqs by the broker's stored time finds where events dated
at/after T can begin (T - lead - the clock margin), then a forward scan finds the first one dated at/after T.

The answer must be exact, the scan must start where the bisection says (it covers only the lead plus the
margin), and the bisection must take about log2(n) probes whatever retention removes meanwhile. The broker,
the consumer and the reader are small fakes with the real contracts: `current()` gives the consumer's cache
(a real RecentEvents, position at the stream's last seq) and the stream's first seq; `stored_ms(seq)` is the
broker's stored time, None for a seq the stream does not hold (removed, or past the end); `scan(after, upto, ws)`
yields the held events with after < seq <= upto in seq order."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import pytest
from hypothesis import given, settings, strategies as st

from taskrouter_gateway.eventlog.jetstream.marks import CLOCK_MARGIN_MS, Lead, SharedMarks
from taskrouter_gateway.eventlog.jetstream.recent import RecentEvents
from taskrouter_gateway.eventlog.jetstream.since import SinceFinder
from taskrouter_gateway.eventlog.log import StoredEvent

PROBE_LIMIT = 200  # far above any honest bisection here: a search that does not converge fails, not hangs


def event(seq: int, stored_ms: int, date_ms: int) -> StoredEvent:
    return StoredEvent(seq, f"EV{seq}", "WS1", "task.created", "", date_ms, stored_ms, b"")


class Broker:
    """The stream as the broker holds it. `removed_upto`: seqs retention removed after `current()` answered."""

    def __init__(self, events: list[StoredEvent], *, first: int | None = None, last: int | None = None) -> None:
        self.events = {e.seq: e for e in events}
        self.last = last if last is not None else max(self.events, default=0)
        self.first = first if first is not None else min(self.events, default=self.last + 1)
        self.removed_upto = 0
        self.probes: list[int] = []
        self.scans: list[tuple[int, int, str | None]] = []

    def held(self, seq: int) -> StoredEvent | None:
        return self.events.get(seq) if seq > self.removed_upto else None

    # Connection
    async def stored_ms(self, seq: int) -> int | None:
        self.probes.append(seq)
        assert len(self.probes) <= PROBE_LIMIT, f"the bisection does not converge: {self.probes[-10:]}"
        held = self.held(seq)
        return held.received_ms if held is not None else None

    # StreamReader
    async def scan(self, after: int, upto: int, workspace_sid: str | None) -> AsyncGenerator[StoredEvent, None]:
        self.scans.append((after, upto, workspace_sid))
        for seq in range(after + 1, upto + 1):
            held = self.held(seq)
            if held is not None:
                yield held


class CountingCache(RecentEvents):
    def __init__(self, *, position: int, cache_size: int) -> None:
        super().__init__(position=position, cache_size=cache_size)
        self.asked: list[int] = []

    def cached(self, seq: int) -> StoredEvent | None:
        self.asked.append(seq)
        assert len(self.asked) <= PROBE_LIMIT, "the bisection does not converge"
        return super().cached(seq)


class Consumer:
    def __init__(self, broker: Broker, cached: int) -> None:
        self.broker = broker
        # The consumer has read up to the stream's last seq; its cache holds the newest `cached` of them.
        self.recent = CountingCache(position=max(broker.last - cached, 0), cache_size=max(cached, 1))
        for seq in range(broker.last - cached + 1, broker.last + 1):
            if seq > 0:
                self.recent.advance(seq, broker.events.get(seq))

    async def current(self) -> tuple[RecentEvents, int]:
        return self.recent, self.broker.first


def finder(broker: Broker, *, lead_ms: int = 0, cached: int = 0) -> tuple[SinceFinder, Consumer]:
    lead = Lead(SharedMarks(None, "M"))
    lead.saw(lead_ms)
    consumer = Consumer(broker, cached)
    return SinceFinder(broker, consumer, broker, lead), consumer  # type: ignore[arg-type]


def expected(broker: Broker, date_ms: int) -> tuple[int, int]:
    """By brute force: the seq before the first held event dated at/after date_ms, and the last seq."""
    for seq in range(1, broker.last + 1):
        held = broker.held(seq)
        if held is not None and held.event_date_ms >= date_ms:
            return seq - 1, broker.last
    return broker.last, broker.last


def scan_start(broker: Broker, floor_ms: int, cache: RecentEvents | None = None) -> int:
    """Where the scan must start: just before the first seq known (cached, else held) to be stored at/after
    floor_ms, else after the last. A cached seq counts even if retention has removed it from the stream since."""
    for seq in range(broker.first, broker.last + 1):
        known = RecentEvents.cached(cache, seq) if cache is not None else None
        known = known if known is not None else broker.held(seq)
        if known is not None and known.received_ms >= floor_ms:
            return seq - 1
    return broker.last


def most_probes(broker: Broker) -> int:
    # The answer is one of first .. last + 1: a bisection needs at most ceil(log2) of that many probes.
    return (broker.last + 1 - broker.first).bit_length()


M = CLOCK_MARGIN_MS


def ten_events(*, lead_ms: int = 0) -> Broker:
    # Stored a minute apart from t = 10 min; each dated its stored time plus `lead_ms`.
    return Broker([event(seq, seq * M + 9 * M, seq * M + 9 * M + lead_ms) for seq in range(1, 11)])


@pytest.mark.parametrize("cached", [0, 3, 10])
async def test_the_first_event_dated_at_or_after_t_is_found_exactly(cached: int) -> None:
    broker = ten_events()
    since, _ = finder(broker, cached=cached)
    # Event 5 is dated 14 min: asked for exactly that, or a millisecond before, the answer starts at it.
    assert await since.since(14 * M) == (4, 10)
    assert await since.since(14 * M - 1) == (4, 10)
    assert await since.since(14 * M + 1) == (5, 10)


async def test_the_scan_starts_a_clock_margin_before_t_and_no_earlier() -> None:
    broker = ten_events()
    since, _ = finder(broker)
    # T = 16 min: no event stored before 15 min (T - margin) can be dated T; event 6 was stored at exactly 15 min.
    assert await since.since(16 * M) == (6, 10)
    assert broker.scans == [(5, 10, None)] and len(broker.probes) <= most_probes(broker)
    broker.scans.clear()
    broker.probes.clear()
    assert await since.since(16 * M + 1) == (7, 10)  # floor 15 min + 1 ms: event 6 is before it
    assert broker.scans == [(6, 10, None)]
    assert len(broker.probes) <= most_probes(broker)


async def test_a_lead_moves_the_scan_that_much_earlier() -> None:
    # Dates run 2.5 min ahead of the broker's clock: event 5 (stored 14 min) is dated 16.5 min.
    broker = ten_events(lead_ms=150_000)
    since, _ = finder(broker, lead_ms=150_000)
    assert await since.since(16 * M + 30_000) == (4, 10)
    # Floor: 16.5 min - 2.5 min - 1 min = 13 min, where event 4 was stored.
    assert broker.scans == [(3, 10, None)]


async def test_an_answer_at_the_first_seq() -> None:
    broker = ten_events()
    since, _ = finder(broker)
    assert await since.since(0) == (0, 10)
    assert broker.scans == [(0, 10, None)]
    assert await since.since(10 * M) == (0, 10)


async def test_an_answer_at_the_last_seq() -> None:
    broker = ten_events()
    since, _ = finder(broker)
    assert await since.since(19 * M) == (9, 10)
    assert broker.scans == [(8, 10, None)]
    broker.scans.clear()
    assert await since.since(20 * M) == (10, 10)
    assert broker.scans == [(9, 10, None)]  # the last event was the only one stored late enough
    assert all(broker.first <= seq <= broker.last for seq in broker.probes)


async def test_nothing_dated_that_late() -> None:
    broker = ten_events()
    since, _ = finder(broker)
    assert await since.since(30 * M) == (10, 10)
    assert broker.scans == [(10, 10, None)]  # nothing stored late enough: nothing read
    assert all(broker.first <= seq <= broker.last for seq in broker.probes)
    assert len(broker.probes) <= most_probes(broker)


async def test_events_stored_late_enough_but_dated_before_t() -> None:
    # Dated well before they were stored (a backfill): the scan reads them and finds none dated at/after T.
    broker = Broker([event(seq, seq * M, 0) for seq in range(1, 6)])
    since, _ = finder(broker)
    assert await since.since(3 * M) == (5, 5)
    assert broker.scans == [(1, 5, None)]


@pytest.mark.parametrize("last", [0, 10])
async def test_an_empty_stream(last: int) -> None:
    broker = Broker([], first=last + 1, last=last)  # a stream emptied by retention keeps its last seq
    since, _ = finder(broker)
    assert await since.since(0) == (last, last)
    assert broker.probes == [] and broker.scans == [(last, last, None)]


async def test_a_stream_of_one_event() -> None:
    broker = Broker([event(7, 5 * M, 5 * M)], first=7, last=7)
    since, _ = finder(broker)
    assert await since.since(5 * M) == (6, 7)
    assert await since.since(5 * M + 1) == (7, 7)


async def test_seqs_in_the_cache_are_not_asked_of_the_broker() -> None:
    broker = ten_events()
    since, consumer = finder(broker, cached=10)
    assert await since.since(14 * M) == (4, 10)
    assert broker.probes == [] and consumer.recent.asked
    broker_only, _ = finder(ten_events(), cached=0)
    assert await broker_only.since(14 * M) == (4, 10)


async def test_the_cache_answers_for_the_newest_seqs_and_the_broker_for_the_rest() -> None:
    broker = ten_events()
    since, consumer = finder(broker, cached=4)  # seqs 7-10
    assert await since.since(17 * M) == (7, 10)
    assert broker.probes == [6] and consumer.recent.asked == [6, 9, 8, 7]
    assert broker.scans == [(6, 10, None)]


async def test_seqs_removed_by_retention_during_the_search_count_as_before_the_answer() -> None:
    # current() said the stream starts at 1; by the time the bisection probes, 1-5 are gone.
    broker = Broker([event(seq, seq * M, seq * M) for seq in range(1, 17)])
    broker.removed_upto = 5
    since, _ = finder(broker)
    assert await since.since(0) == (5, 16)  # the first event still held
    assert broker.scans == [(5, 16, None)]
    assert 5 in broker.probes and len(broker.probes) <= most_probes(broker)


async def test_everything_up_to_the_answer_removed_during_the_search() -> None:
    broker = Broker([event(seq, seq * M, seq * M) for seq in range(1, 9)])
    broker.removed_upto = 7
    since, _ = finder(broker)
    assert await since.since(3 * M) == (7, 8)
    assert broker.scans == [(7, 8, None)]


async def test_equal_stored_times_are_bisected_to_the_first_of_them() -> None:
    # The broker's clock stamps in milliseconds: a burst shares one stored time, in seq order.
    broker = Broker([event(seq, 10 * M if seq >= 4 else seq, 10 * M + seq) for seq in range(1, 13)])
    since, _ = finder(broker)
    assert await since.since(11 * M) == (12, 12)
    assert broker.scans == [(3, 12, None)]
    assert await since.since(10 * M + 6) == (5, 12)


@st.composite
def streams(draw) -> tuple[Broker, int, int, int]:
    count = draw(st.integers(0, 40))
    first = draw(st.integers(1, 5))
    lead_ms = draw(st.sampled_from([0, 1, 90_000]))
    stored, events = 0, []
    for seq in range(first, first + count):
        stored += draw(st.sampled_from([0, 0, 1, 30_000, 61_000]))
        # Each event dated no later than its stored time plus the lead; any amount earlier.
        events.append(event(seq, stored, stored + lead_ms - draw(st.sampled_from([0, 1, 5_000, 120_000]))))
    broker = Broker(events, first=first, last=first + count - 1)
    broker.removed_upto = draw(st.integers(0, first + count)) if draw(st.booleans()) else 0
    date_ms = draw(st.integers(-200_000, stored + 200_000))
    return broker, lead_ms, date_ms, draw(st.integers(0, count))


@settings(max_examples=150, deadline=None)
@given(streams())
async def test_since_is_exact_starts_where_the_bisection_says_and_takes_log_n_probes(case) -> None:
    broker, lead_ms, date_ms, cached = case
    since, consumer = finder(broker, lead_ms=lead_ms, cached=cached)
    assert await since.since(date_ms) == expected(broker, date_ms)
    assert broker.scans == [(scan_start(broker, date_ms - lead_ms - M, consumer.recent), broker.last, None)]
    probes = len(consumer.recent.asked)
    assert probes <= most_probes(broker) and all(broker.first <= seq <= broker.last for seq in consumer.recent.asked)
