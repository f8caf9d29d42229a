"""Dedup beyond the broker's duplicate window: which events could have an older copy, and where the stored ones are
found: in a backfill's dedup scope (read once into an on-disk set, then kept up to date by this replica's appends),
else by reading the workspace's subject from the event's date on, stopping once every sid is found.

`since` and the reader are small fakes over one list of stored events with the real contracts: `since(T)` is
(the seq just before the first event dated at/after T, the last seq); `scan(after, upto, ws)` yields the
workspace's events with after < seq <= upto in seq order. Both record what they were asked, which is how a test
tells "answered from the scope" from "read the stream again"."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Iterable

import pytest

from taskrouter_gateway.eventlog.jetstream import dedup as dedup_module
from taskrouter_gateway.eventlog.jetstream.dedup import Deduper
from taskrouter_gateway.eventlog.jetstream.marks import CLOCK_MARGIN_MS, Lead, SharedMarks
from taskrouter_gateway.eventlog.jetstream.sid_set import SidSet
from taskrouter_gateway.eventlog.log import EventLogError, NewEvent, StoredEvent

NOW = 1_800_000_000_000
HOUR = 3_600_000


def stored(seq: int, date_ms: int, ws: str = "WS1", sid: str | None = None) -> StoredEvent:
    return StoredEvent(seq, sid or f"EV{seq}", ws, "task.created", "", date_ms, NOW, b"")


def new(sid: str, date_ms: int, ws: str = "WS1") -> NewEvent:
    return NewEvent(sid, ws, "task.created", "", date_ms, b"{}")


def copy_of(event: StoredEvent) -> NewEvent:
    return new(event.sid, event.event_date_ms, event.workspace_sid)


class Stream:
    """Both `since` and the reader, over one list of stored events."""

    def __init__(self, events: Iterable[StoredEvent]) -> None:
        self.events = list(events)
        self.since_calls: list[int] = []
        self.scans: list[tuple[int, int, str | None]] = []
        self.read = 0  # events handed out by scans
        self.pause_next: tuple[asyncio.Event, asyncio.Event] | None = None  # (started, release) for the next scan
        self.fail_since: BaseException | None = None

    @property
    def last(self) -> int:
        return self.events[-1].seq if self.events else 0

    def append(self, event: StoredEvent) -> None:
        self.events.append(event)

    async def since(self, event_date_ms: int) -> tuple[int, int]:
        self.since_calls.append(event_date_ms)
        if self.fail_since is not None:
            raise self.fail_since
        first = next((e.seq for e in self.events if e.event_date_ms >= event_date_ms), None)
        return (first - 1 if first is not None else self.last), self.last

    async def scan(self, after: int, upto: int, workspace_sid: str | None) -> AsyncGenerator[StoredEvent, None]:
        self.scans.append((after, upto, workspace_sid))
        if self.pause_next is not None:
            (started, release), self.pause_next = self.pause_next, None
            started.set()
            await release.wait()
        for event in list(self.events):
            if after < event.seq <= upto and workspace_sid in (None, event.workspace_sid):
                self.read += 1
                yield event


class RecordingSidSet(SidSet):
    made: list[RecordingSidSet] = []

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []
        self.lookups = 0
        self.closed = False
        RecordingSidSet.made.append(self)

    def add(self, pairs: Iterable[tuple[str, int]]) -> None:
        rows = list(pairs)
        self.batches.append(len(rows))
        super().add(rows)

    def seqs_of(self, sids: Iterable[str]) -> dict[str, int]:
        self.lookups += 1
        return super().seqs_of(sids)

    def close(self) -> None:
        self.closed = True
        super().close()


@pytest.fixture(autouse=True)
def sid_sets(monkeypatch) -> list[RecordingSidSet]:
    RecordingSidSet.made = []
    monkeypatch.setattr(dedup_module, "SidSet", RecordingSidSet)
    return RecordingSidSet.made


def deduper(stream: Stream, *, lead_ms: int = 0, window_s: float = 3600.0, write_timeout_s: float = 2.5) -> Deduper:
    lead = Lead(SharedMarks(None, "M"))
    lead.saw(lead_ms)
    return Deduper(stream, stream, lead, duplicate_window_s=window_s,  # type: ignore[arg-type]
                   write_timeout_s=write_timeout_s, clock_ms=lambda: NOW)


# -- which events could have a copy older than the broker's window -------------------------------------------

def test_only_events_whose_copy_could_predate_the_broker_window_are_looked_for() -> None:
    d = deduper(Stream([]), lead_ms=500, window_s=3600, write_timeout_s=2.5)
    # A copy was stored no earlier than date - lead - margin - write timeout; the broker remembers 3600 s back.
    edge = NOW - HOUR + CLOCK_MARGIN_MS + 500 + 2_500
    assert not d.beyond_broker_dedup(new("EV1", edge))
    assert d.beyond_broker_dedup(new("EV1", edge - 1))
    assert not d.beyond_broker_dedup(new("EV1", NOW))
    assert d.beyond_broker_dedup(new("EV1", NOW - 2 * HOUR))


def test_the_window_and_the_write_timeout_are_counted_in_milliseconds() -> None:
    d = deduper(Stream([]), lead_ms=0, window_s=0.75, write_timeout_s=0.004)
    edge = NOW - 750 + CLOCK_MARGIN_MS + 4
    assert not d.beyond_broker_dedup(new("EV1", edge))
    assert d.beyond_broker_dedup(new("EV1", edge - 1))


# -- looking for stored copies without a scope ---------------------------------------------------------------

async def test_stored_copies_are_found_by_reading_each_workspace_from_its_oldest_date() -> None:
    stream = Stream([stored(1, 100), stored(2, 200, "WS2"), stored(3, 300), stored(4, 400, "WS2"), stored(5, 500)])
    d = deduper(stream)
    found = await d.find_stored([new("EV3", 300), new("EV9", 250), new("EV4", 400, "WS2"), new("EV5", 500),
                                 new("EV8", 450, "WS2")])
    assert found == {"EV3": 3, "EV4": 4, "EV5": 5}
    assert sorted(stream.since_calls) == [250, 400]  # once per workspace, from its oldest event's date
    assert sorted(stream.scans, key=lambda s: str(s[2])) == [(2, 5, "WS1"), (3, 5, "WS2")]


async def test_a_copy_in_another_workspace_is_not_this_event() -> None:
    stream = Stream([stored(1, 100, "WS2", sid="EV1")])
    assert await deduper(stream).find_stored([new("EV1", 100, "WS1")]) == {}


async def test_nothing_asked_nothing_read() -> None:
    stream = Stream([stored(1, 100)])
    assert await deduper(stream).find_stored([]) == {}
    assert stream.since_calls == [] and stream.scans == []


async def test_reading_stops_once_every_sid_is_found() -> None:
    stream = Stream([stored(seq, seq * 10) for seq in range(1, 21)])
    d = deduper(stream)
    assert await d.find_stored([new("EV3", 30), new("EV5", 50)]) == {"EV3": 3, "EV5": 5}
    assert stream.read == 3  # EV3, EV4, EV5: not the 15 after them
    stream.read = 0
    assert await d.find_stored([new("EV5", 50), new("EV99", 60)]) == {"EV5": 5}
    assert stream.read == 16  # one not stored: read to the end


# -- a backfill's dedup scope --------------------------------------------------------------------------------

async def test_a_scope_answers_for_events_dated_from_its_start_without_reading_the_stream(sid_sets) -> None:
    stream = Stream([stored(1, 900), stored(2, 1000), stored(3, 1100), stored(4, 950), stored(5, 1200, "WS2"),
                     stored(6, 1300)])
    d = deduper(stream)
    async with d.scope("WS1", 1000):
        assert stream.since_calls == [1000] and stream.scans == [(1, 6, "WS1")]
        # Read once: events of WS1 stored from since(1000) on, dated at/after 1000.
        assert sid_sets[0].batches == [3]
        found = await d.find_stored([new("EV2", 1000), new("EV3", 1100), new("EV6", 1300), new("EV7", 1400)])
        assert found == {"EV2": 2, "EV3": 3, "EV6": 6}
        assert stream.since_calls == [1000] and len(stream.scans) == 1  # not read again
        assert sid_sets[0].lookups == 1  # one on-disk lookup for all of them
        # Dated before the scope's start: looked for in the stream, as without a scope.
        assert await d.find_stored([new("EV4", 950), new("EV1", 900)]) == {"EV4": 4, "EV1": 1}
        assert stream.since_calls == [1000, 900] and len(stream.scans) == 2
        # Another workspace has no scope.
        assert await d.find_stored([new("EV5", 1200, "WS2")]) == {"EV5": 5}
        assert len(stream.scans) == 3
    assert sid_sets[0].closed


async def test_after_the_scope_the_stream_is_read_again_and_appends_are_not_learned(sid_sets) -> None:
    stream = Stream([stored(1, 1000)])
    d = deduper(stream)
    async with d.scope("WS1", 1000):
        pass
    assert sid_sets[0].closed
    await d.learn([("WS1", "EV2", 2)])  # no open scope: nothing to tell (a closed set would raise)
    stream.append(stored(2, 1001))
    assert await d.find_stored([new("EV1", 1000), new("EV2", 1001)]) == {"EV1": 1, "EV2": 2}
    assert len(stream.scans) == 2 and sid_sets[0].batches == [1]


async def test_what_this_replica_appends_during_a_scope_is_learned_by_its_workspaces_scopes(sid_sets) -> None:
    stream = Stream([stored(1, 1000)])
    d = deduper(stream)
    async with d.scope("WS1", 1000), d.scope("WS2", 1000):
        for event in (stored(2, 1500, "WS1"), stored(3, 1500, "WS2"), stored(4, 1600, "WS3")):
            stream.append(event)
        await d.learn([("WS1", "EV2", 2), ("WS2", "EV3", 3), ("WS3", "EV4", 4)])
        scans = len(stream.scans)
        assert await d.find_stored([new("EV2", 1500), new("EV3", 1500, "WS2")]) == {"EV2": 2, "EV3": 3}
        assert len(stream.scans) == scans  # both answered by their scopes
        # A sid learned for one workspace is not in another's scope.
        assert await d.find_stored([new("EV3", 1500, "WS1"), new("EV2", 1500, "WS2")]) == {}
        assert len(stream.scans) == scans


async def test_a_scope_still_being_read_is_not_trusted_but_learns_appends_meanwhile() -> None:
    stream = Stream([stored(1, 1000), stored(2, 1100)])
    d = deduper(stream)
    started, release = asyncio.Event(), asyncio.Event()
    stream.pause_next = (started, release)

    async def backfill() -> dict[str, int]:
        async with d.scope("WS1", 1000):
            return await d.find_stored([new("EV2", 1100), new("EV3", 1200)])

    task = asyncio.ensure_future(backfill())
    await started.wait()  # the scope is registered and reading the stream
    stream.append(stored(3, 1200))
    await d.learn([("WS1", "EV3", 3)])  # appended now, after the scope's read began
    # Meanwhile the scope does not answer yet: the stream does.
    assert await d.find_stored([new("EV2", 1100)]) == {"EV2": 2}
    assert len(stream.scans) == 2
    release.set()
    assert await task == {"EV2": 2, "EV3": 3}
    assert len(stream.scans) == 2  # the ready scope answered, EV3 included


async def test_overlapping_scopes_of_one_workspace_each_end_on_their_own(sid_sets) -> None:
    stream = Stream([stored(1, 1000), stored(2, 2000), stored(3, 3000)])
    d = deduper(stream)
    async with d.scope("WS1", 2000):
        async with d.scope("WS1", 1000):
            scans = len(stream.scans)
            assert await d.find_stored([new("EV1", 1000), new("EV3", 3000)]) == {"EV1": 1, "EV3": 3}
            assert len(stream.scans) == scans
        assert sid_sets[1].closed and not sid_sets[0].closed
        await d.learn([("WS1", "EV4", 4)])  # only the open scope learns
        stream.append(stored(4, 4000))
        assert await d.find_stored([new("EV4", 4000), new("EV3", 3000)]) == {"EV4": 4, "EV3": 3}
        assert len(stream.scans) == scans
        assert await d.find_stored([new("EV1", 1000)]) == {"EV1": 1}  # before the open scope's start
        assert len(stream.scans) == scans + 1
    assert sid_sets[0].closed
    assert sid_sets[0].batches == [2, 1] and sid_sets[1].batches == [3]


async def test_a_scope_is_read_into_its_set_in_batches_of_a_thousand(sid_sets) -> None:
    events = [stored(seq, 5000 + seq) for seq in range(1, 2501)]
    events[1200] = stored(1201, 10)  # dated before the start: not kept
    stream = Stream(events)
    d = deduper(stream)
    async with d.scope("WS1", 5000):
        assert await d.find_stored([new("EV1", 5001), new("EV2500", 7500)]) == {"EV1": 1, "EV2500": 2500}
    assert sid_sets[0].batches == [1000, 1000, 499]
    exact = Stream([stored(seq, 5000) for seq in range(1, 1001)])
    async with deduper(exact).scope("WS1", 5000):
        pass
    assert sid_sets[1].batches == [1000, 0]


async def test_a_scope_that_cannot_be_read_leaves_nothing_behind(sid_sets) -> None:
    stream = Stream([stored(1, 1000)])
    stream.fail_since = EventLogError("unavailable")
    d = deduper(stream)
    with pytest.raises(EventLogError):
        async with d.scope("WS1", 1000):
            pass
    assert sid_sets[0].closed
    stream.fail_since = None
    await d.learn([("WS1", "EV1", 1)])  # the failed scope is gone: its closed set is not touched
    assert await d.find_stored([new("EV1", 1000)]) == {"EV1": 1}


# -- a scope that ends while an append is telling it what was stored -----------------------------------------

class HeldSidSet(RecordingSidSet):
    """Its next add waits in its worker thread (before taking the set's lock) until released: the scope can end
    meanwhile, as when a backfill finishes, or is cancelled, while another append's learn is under way."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release: threading.Event | None = None

    def add(self, pairs: Iterable[tuple[str, int]]) -> None:
        release, self.release = self.release, None
        if release is not None:
            self.entered.set()
            release.wait()
        super().add(pairs)


async def test_a_scope_that_ends_while_it_is_told_of_an_append_does_not_fail_the_append(monkeypatch) -> None:
    monkeypatch.setattr(dedup_module, "SidSet", HeldSidSet)
    stream = Stream([stored(1, 1000)])
    d = deduper(stream)
    release = threading.Event()
    async with d.scope("WS1", 1000):
        held = RecordingSidSet.made[0]
        assert isinstance(held, HeldSidSet)
        held.release = release
        learning = asyncio.ensure_future(d.learn([("WS1", "EV2", 2)]))
        await asyncio.to_thread(held.entered.wait)
    assert held.closed  # the scope ended and closed its set before the add reached it
    release.set()
    await learning  # the events are stored: telling a scope that has ended is nothing to fail over


async def test_a_scope_ending_while_another_is_told_does_not_make_the_other_miss_the_append(monkeypatch) -> None:
    monkeypatch.setattr(dedup_module, "SidSet", HeldSidSet)
    stream = Stream([stored(1, 1000)])
    d = deduper(stream)
    ready = [asyncio.Event(), asyncio.Event()]
    end = [asyncio.Event(), asyncio.Event()]

    async def backfill(i: int) -> dict[str, int]:
        async with d.scope("WS1", 1000):
            ready[i].set()
            await end[i].wait()
            return await d.find_stored([new("EV2", 1500)])

    first, second = asyncio.ensure_future(backfill(0)), asyncio.ensure_future(backfill(1))
    await ready[0].wait()
    await ready[1].wait()
    release = threading.Event()
    RecordingSidSet.made[0].release = release  # type: ignore[attr-defined]
    stream.append(stored(2, 1500))
    learning = asyncio.ensure_future(d.learn([("WS1", "EV2", 2)]))
    await asyncio.to_thread(RecordingSidSet.made[0].entered.wait)  # type: ignore[attr-defined]
    end[0].set()
    await first  # the first scope ends while its add of EV2 is still under way
    release.set()
    await learning
    scans = len(stream.scans)
    end[1].set()
    assert await second == {"EV2": 2}
    assert len(stream.scans) == scans  # from its scope, which was told
