"""The replica's stream index against brute force: since-time lookups with dates in any order, across
retention at the head, sid lookups, and the cache of newest events."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from taskrouter_gateway.events.jetstream_index import StreamIndex
from taskrouter_gateway.events.log import StoredEvent


def stored(seq: int, date: int, ws: str = "WS1") -> StoredEvent:
    return StoredEvent(seq, f"EV{seq}", ws, "task.created", "", date, 0, b"")


def brute(dates: dict[int, int], t: int, last: int) -> int:
    first = next((seq for seq in sorted(dates) if dates[seq] >= t), None)
    return last if first is None else first - 1


@settings(max_examples=60, deadline=None)
@given(
    dates=st.lists(st.integers(0, 50), min_size=0, max_size=40),
    drop=st.integers(0, 45),
    probes=st.lists(st.integers(-5, 55), min_size=1, max_size=10),
)
def test_first_dated_at_or_after_matches_a_scan_before_and_after_retention(dates, drop, probes) -> None:
    index = StreamIndex(first_seq=1, cache_size=5)
    for seq, date in enumerate(dates, start=1):
        index.add(stored(seq, date))
    held = dict(enumerate(dates, start=1))
    last = len(dates)
    for t in probes:
        got = index.first_dated_at_or_after(t)
        assert (index.position if got is None else got - 1) == brute(held, t, last)
    index.drop_before(drop)
    held = {seq: d for seq, d in held.items() if seq >= drop}
    for t in probes:
        got = index.first_dated_at_or_after(t)
        assert (index.position if got is None else got - 1) == brute(held, t, last)
    for seq in range(1, last + 1):
        assert index.seq_of(f"EV{seq}") == (seq if seq >= drop else None)


def test_cache_keeps_the_newest_and_filters_by_workspace() -> None:
    index = StreamIndex(first_seq=1, cache_size=4)
    for seq in range(1, 11):
        index.add(stored(seq, seq, ws="A" if seq % 2 else "B"))
    assert index.cache_first == 7
    assert [e.seq for e in index.cached_after(6, 10, None)] == [7, 8, 9, 10]
    assert [e.seq for e in index.cached_after(6, 10, "B")] == [8, 10]
    assert [e.seq for e in index.cached_after(6, 1, "A")] == [7]
    assert index.cached(3) is None and index.cached(9) is not None
    assert index.newest_event_date_ms("A") == 9 and index.newest_event_date_ms("C") is None


def test_a_skipped_seq_keeps_positions_aligned() -> None:
    index = StreamIndex(first_seq=1, cache_size=10)
    index.add(stored(1, 100))
    index.skip(2)
    index.add(stored(3, 50))
    index.add(stored(4, 200))
    assert index.position == 4
    assert [e.seq for e in index.cached_after(0, 10, None)] == [1, 3, 4]
    assert index.first_dated_at_or_after(150) == 4
    index.drop_before(3)
    assert index.first_dated_at_or_after(10) == 3


def test_a_stream_whose_head_aged_out_starts_where_it_now_begins() -> None:
    index = StreamIndex(first_seq=1, cache_size=10)
    index.add(stored(40, 7))
    index.add(stored(41, 9))
    assert index.position == 41 and index.first_dated_at_or_after(8) == 41
