"""The read front's parts on their own: the bounded cache and its tags, the invalidation table against
TaskRouter's event catalog, request pacing, shared requests, and ReadOptions checking."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from google.protobuf import duration_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from taskrouter.gateway.v1 import read_options_pb2, worker_service_pb2 as w
from taskrouter_gateway.reads import invalidation
from taskrouter_gateway.reads.cache import ReadCache
from taskrouter_gateway.reads.inflight import Inflight
from taskrouter_gateway.reads.keys import tags_of, where
from taskrouter_gateway.reads.options import MAX_STALENESS_S, staleness_of
from taskrouter_gateway.reads.window import RequestWindow
from taskrouter_gateway.stream.filters import EventRefs
from taskrouter_gateway.validation import Checker

CATALOG = Path(__file__).resolve().parents[2] / "fixtures/docs/taskrouter_docs.json"
WS, WK1, WK2, WT, WQ = "WS" + "1" * 32, "WK" + "1" * 32, "WK" + "2" * 32, "WT" + "1" * 32, "WQ" + "1" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def put(cache: ReadCache, path: str, size: int = 10) -> tuple:
    key = ("p", path)
    cache.put(key, path, fetched_at=cache.clock(), size=size, tags=tags_of(path))
    return key


def test_every_catalog_event_type_has_a_row_and_no_row_is_invented():
    catalog = set(json.loads(CATALOG.read_text())["event_catalog"]["rows"])
    assert set(invalidation.RULES) == catalog


def test_a_worker_event_drops_that_worker_and_the_worker_lists_only():
    cache = ReadCache(clock=Clock())
    mine, other = put(cache, f"/v1/Workspaces/{WS}/Workers/{WK1}"), put(cache, f"/v1/Workspaces/{WS}/Workers/{WK2}")
    channels = put(cache, f"/v1/Workspaces/{WS}/Workers/{WK1}/Channels")
    listing, task = put(cache, f"/v1/Workspaces/{WS}/Workers"), put(cache, f"/v1/Workspaces/{WS}/Tasks/{WT}")
    stats = put(cache, f"/v1/Workspaces/{WS}/TaskQueues/{WQ}/RealTimeStatistics")
    refs = EventRefs(workspace_sid=WS, event_type="worker.activity.update", resource_sid=WK1, worker_sid=WK1)
    assert invalidation.apply_event(cache, WS, "worker.activity.update", lambda: refs) == 4
    held = {key for key in (mine, other, channels, listing, task, stats) if cache.get(key, 1.0) is not None}
    assert held == {other, task}


def test_a_reservation_event_drops_its_task_and_worker_and_an_unknown_type_the_workspace():
    cache = ReadCache(clock=Clock())
    task, worker = put(cache, f"/v1/Workspaces/{WS}/Tasks/{WT}/Reservations"), put(cache, f"/v1/Workspaces/{WS}/Workers/{WK1}")
    queue = put(cache, f"/v1/Workspaces/{WS}/TaskQueues/{WQ}")
    refs = EventRefs(workspace_sid=WS, event_type="reservation.created", task_sid=WT, worker_sid=WK1)
    invalidation.apply_event(cache, WS, "reservation.created", lambda: refs)
    assert cache.get(task, 1) is None and cache.get(worker, 1) is None and cache.get(queue, 1) is not None
    invalidation.apply_event(cache, WS, "task.some-future-event", lambda: None)
    assert len(cache) == 0


def test_an_unreadable_event_drops_the_whole_collections_it_names():
    cache = ReadCache(clock=Clock())
    worker = put(cache, f"/v1/Workspaces/{WS}/Workers/{WK2}")
    invalidation.apply_event(cache, WS, "worker.created", lambda: None)
    assert cache.get(worker, 1) is None


def test_answers_age_from_their_fetch_and_are_served_only_within_the_bound():
    clock = Clock()
    cache = ReadCache(clock=clock)
    key = put(cache, f"/v1/Workspaces/{WS}/Workers/{WK1}")
    clock.now = 5.0
    assert cache.get(key, 5.0) == (f"/v1/Workspaces/{WS}/Workers/{WK1}", 5.0)
    assert cache.get(key, 4.999) is None
    assert (cache.counters.hits, cache.counters.misses) == (1, 1)


def test_bounded_in_entries_and_bytes_least_recently_used_out():
    cache = ReadCache(max_entries=3, max_bytes=100, clock=Clock())
    a, b, c = (put(cache, f"/v1/Workspaces/{WS}/Workers/WK{i * 32}") for i in "abc")
    cache.get(a, 1)  # a is now the most recently used
    put(cache, f"/v1/Workspaces/{WS}/Workers/WK{'d' * 32}")
    assert cache.get(b, 1) is None and cache.get(a, 1) is not None and cache.counters.evictions == 1
    put(cache, f"/v1/Workspaces/{WS}/Tasks/{WT}", size=95)
    assert cache.bytes <= 100 and len(cache) == 1
    assert not cache.put(("big",), "x", fetched_at=0, size=101, tags=tags_of(f"/v1/Workspaces/{WS}"))
    assert cache.get(c, 1) is None


def test_an_answer_fetched_while_it_changed_is_not_kept_and_others_are():
    cache = ReadCache(clock=Clock())
    mine, task = f"/v1/Workspaces/{WS}/Workers/{WK1}", f"/v1/Workspaces/{WS}/Tasks/{WT}"
    put(cache, f"/v1/Workspaces/{WS}/Workers/{WK2}")  # something cached there: events are applied exactly
    epoch = cache.epoch()
    refs = EventRefs(workspace_sid=WS, event_type="worker.attributes.update", resource_sid=WK1)
    invalidation.apply_event(cache, WS, "worker.attributes.update", lambda: refs)
    assert not cache.put(("mine",), 1, fetched_at=0, size=1, tags=tags_of(mine), epoch=epoch)
    assert cache.put(("task",), 1, fetched_at=0, size=1, tags=tags_of(task), epoch=epoch)
    assert cache.put(("mine",), 1, fetched_at=0, size=1, tags=tags_of(mine), epoch=cache.epoch())
    # With nothing cached in the workspace the event is not rendered: its whole collection counts as changed.
    empty = ReadCache(clock=Clock())
    epoch = empty.epoch()
    invalidation.apply_event(empty, WS, "worker.deleted", lambda: pytest.fail("rendered"))
    assert not empty.put(("other",), 1, fetched_at=0, size=1, tags=tags_of(f"/v1/Workspaces/{WS}/Workers/{WK2}"),
                         epoch=epoch)
    assert empty.put(("task",), 1, fetched_at=0, size=1, tags=tags_of(task), epoch=epoch)
    epoch = cache.epoch()
    cache.clear()  # a gap: every fetch in flight is suspect too
    assert len(cache) == 0 and cache.bytes == 0
    assert not cache.put(("task",), 1, fetched_at=0, size=1, tags=tags_of(task), epoch=epoch)


@pytest.mark.parametrize("path,expected", [
    ("/v1/Workspaces", ("", "", "", False)),
    (f"/v1/Workspaces/{WS}", (WS, "", "", False)),
    (f"/v1/Workspaces/{WS}/RealTimeStatistics", (WS, "", "", True)),
    (f"/v1/Workspaces/{WS}/TaskQueues/RealTimeStatistics", (WS, "TaskQueues", "", True)),
    (f"/v1/Workspaces/{WS}/Workers/{WK1}/Channels?PageSize=5", (WS, "Workers", WK1, False)),
    (f"/v1/Workspaces/{WS}/TaskQueues/{WQ}/CumulativeStatistics", (WS, "TaskQueues", WQ, True)),
])
def test_where_a_path_points(path, expected):
    assert where(path) == expected


async def test_a_window_paces_requests_it_would_otherwise_exceed():
    clock, slept = Clock(), []

    async def sleep(seconds: float) -> None:  # time passes exactly as asked
        slept.append(round(seconds, 6))
        clock.now += seconds

    window = RequestWindow(2, 1.0, margin_s=0.05, clock=clock, sleep=sleep)
    sent = []
    for _ in range(5):
        await window.acquire("ws")
        sent.append(round(clock.now, 6))
    assert sent == [0.0, 0.0, 1.05, 1.05, 2.1]  # never more than 2 in any 1.05 s
    assert slept == [1.05, 1.05] and window.waits == 2
    await window.acquire("other")  # per key
    assert window.waits == 2
    with pytest.raises(ValueError):
        RequestWindow(0)


async def test_callers_share_one_fetch_and_a_caller_going_away_fails_nobody_else():
    inflight, release, calls = Inflight(), asyncio.Event(), []

    async def fetch() -> str:
        calls.append(1)
        await release.wait()
        return "answer"

    first = asyncio.create_task(inflight.run("k", fetch))
    second = asyncio.create_task(inflight.run("k", fetch))
    third = asyncio.create_task(inflight.run("k", fetch))
    while len(calls) < 1:
        await asyncio.sleep(0)
    first.cancel()  # the fetching caller goes away: one of the others fetches in its place
    while len(calls) < 2:
        await asyncio.sleep(0)
    release.set()
    assert sorted([await second, await third], key=str) == [("answer", False), ("answer", True)]
    assert first.cancelled() and calls == [1, 1] and len(inflight) == 0


async def test_a_shared_failure_reaches_every_caller():
    inflight = Inflight()

    async def fetch() -> str:
        await asyncio.sleep(0)
        raise LookupError("gone")

    results = await asyncio.gather(inflight.run("k", fetch), inflight.run("k", fetch), return_exceptions=True)
    assert [type(r) for r in results] == [LookupError, LookupError]


def _request(seconds: int, nanos: int) -> w.GetWorkerRequest:
    options = read_options_pb2.ReadOptions(max_staleness=duration_pb2.Duration(seconds=seconds, nanos=nanos))
    return w.GetWorkerRequest(read_options=options)


def test_unset_staleness_is_the_methods_default():
    check = Checker()
    assert staleness_of(w.GetWorkerRequest(), 1.5, check) == 1.5
    assert staleness_of(w.GetWorkerRequest(read_options=read_options_pb2.ReadOptions()), 0.0, check) == 0.0
    assert staleness_of(_request(2, 500_000_000), 0.0, check) == 2.5
    assert check.violations == []


@settings(max_examples=300, deadline=None)
@given(st.integers(-(2**40), 2**40), st.integers(-(2**31), 2**31 - 1))
def test_any_duration_is_accepted_within_bounds_or_reported_on_the_field(seconds, nanos):
    check = Checker()
    value = staleness_of(_request(seconds, nanos), 0.0, check)
    valid = -1e9 < nanos < 1e9 and not (seconds > 0 > nanos or seconds < 0 < nanos)
    total = seconds + nanos / 1e9
    if valid and 0 <= total <= MAX_STALENESS_S:
        assert check.violations == [] and value == pytest.approx(total)
    else:
        assert [field for field, _ in check.violations] == ["read_options.max_staleness"] and value == 0.0
