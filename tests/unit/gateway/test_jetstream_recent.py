"""A replica's in-memory view of the stream: its position and a bounded cache of the newest events, against
brute force; a seq that skips ahead is reported as lost, never stalls the replica."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from taskrouter_gateway.eventlog.jetstream.recent import RecentEvents
from taskrouter_gateway.eventlog.log import StoredEvent


def stored(seq: int, ws: str = "WS1") -> StoredEvent:
    return StoredEvent(seq, f"EV{seq}", ws, "task.created", "", seq, 0, b"")


@settings(max_examples=80, deadline=None)
@given(steps=st.lists(st.integers(1, 4), min_size=1, max_size=60), size=st.integers(1, 8),
       head=st.integers(0, 80), after=st.integers(0, 90))
def test_cache_answers_like_a_scan_and_reports_every_skip(steps, size, head, after) -> None:
    recent = RecentEvents(position=0, cache_size=size)
    seq, held, lost = 0, [], []
    for step in steps:
        seq += step
        got = recent.advance(seq, stored(seq, "A" if seq % 2 else "B"))
        expected = (seq - step + 1, seq - 1) if step > 1 else None
        assert got == expected
        if got:
            lost.append(got)
            held.clear()  # the cache restarts after a gap: it stays a contiguous run
        held.append(seq)
    assert recent.position == seq and recent.lost == sum(b - a + 1 for a, b in lost)
    window = held[-size:]
    assert len(recent) == len(window) and recent.cache_first == window[0]
    recent.drop_before(head)
    window = [s for s in window if s >= head]
    if after >= recent.cache_first - 1:
        for ws in (None, "A"):
            got_seqs = [e.seq for e in recent.cached_after(after, 100, ws)]
            assert got_seqs == [s for s in window if s > after and (ws is None or s % 2)]


def test_a_redelivered_seq_is_ignored_and_an_unreadable_one_still_moves_the_position() -> None:
    recent = RecentEvents(position=5, cache_size=10)
    assert recent.advance(6, stored(6)) is None
    assert recent.advance(6, stored(6)) is None and recent.advance(3, stored(3)) is None
    assert recent.advance(7, None) is None  # not a gateway message: position only
    assert recent.position == 7 and [e.seq for e in recent.cached_after(5, 10, None)] == [6]


def test_jump_past_a_stream_emptied_by_retention() -> None:
    recent = RecentEvents(position=3, cache_size=10)
    recent.advance(4, stored(4))
    assert recent.jump_to(9) == (5, 9) and recent.position == 9 and len(recent) == 0
    assert recent.jump_to(9) is None  # nothing more lost
    assert recent.advance(10, stored(10)) is None


def test_retention_then_new_events_drop_only_what_the_stream_removed() -> None:
    # Carried over from the old index's _reach bug: add 1-3, the head moves to 10 with nothing read
    # in between, add 10-12, the head moves to 11. Exactly one more event is dropped, and the rest still serve.
    recent = RecentEvents(position=0, cache_size=100)
    for seq in (1, 2, 3):
        recent.advance(seq, stored(seq))
    assert recent.drop_before(10) == 3
    assert recent.jump_to(9) == (4, 9)
    for seq in (10, 11, 12):
        assert recent.advance(seq, stored(seq)) is None
    assert recent.drop_before(11) == 1
    assert [e.seq for e in recent.cached_after(10, 10, None)] == [11, 12] and recent.cache_first == 11


def test_limits_holes_and_an_empty_cache() -> None:
    with pytest.raises(ValueError, match="cache_size"):
        RecentEvents(position=0, cache_size=0)
    recent = RecentEvents(position=7, cache_size=10)
    assert recent.cache_first == 8 and list(recent.cached_after(7, 5, None)) == []
    for seq in (8, 9):
        recent.advance(seq, stored(seq))
    recent.advance(10, None)  # a message that is not a gateway event: a hole, not the end
    for seq in (11, 12, 13):
        recent.advance(seq, stored(seq))
    assert [e.seq for e in recent.cached_after(7, 100, None)] == [8, 9, 11, 12, 13]
    assert [e.seq for e in recent.cached_after(7, 3, None)] == [8, 9, 11]
    assert [e.seq for e in recent.cached_after(8, 1, None)] == [9]
    assert recent.jump_to(20) == (14, 20) and recent.lost == 7


def test_the_same_seq_delivered_twice_is_taken_once() -> None:
    recent = RecentEvents(position=0, cache_size=10)
    recent.advance(1, stored(1))
    assert recent.advance(1, stored(1)) is None and len(recent) == 1 and recent.lost == 0
