"""The on-disk sid set a backfill's dedup scope fills: the first seq of a sid wins, its size counts sids once,
lookups of any number of sids answer exactly those present, from whichever worker thread asks."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from taskrouter_gateway.eventlog.jetstream.sid_set import SidSet


@pytest.fixture
def sids():
    sid_set = SidSet()
    yield sid_set
    sid_set.close()


def test_an_empty_set_holds_nothing(sids: SidSet) -> None:
    assert sids.size == 0
    assert sids.seqs_of(["EV1"]) == {} and sids.seqs_of([]) == {}
    sids.add([])
    assert sids.size == 0


def test_a_sid_keeps_its_first_seq_and_is_counted_once(sids: SidSet) -> None:
    sids.add([("EV1", 1), ("EV2", 2), ("EV1", 9)])
    assert sids.size == 2
    sids.add(iter([("EV2", 20), ("EV3", 3)]))  # any iterable of pairs
    assert sids.size == 3
    sids.add([("EV3", 30)])
    assert sids.size == 3
    assert sids.seqs_of(["EV1", "EV2", "EV3", "EV4"]) == {"EV1": 1, "EV2": 2, "EV3": 3}


def test_lookups_of_many_sids_cross_every_chunk_boundary(sids: SidSet) -> None:
    held = {f"EV{i:05d}": i for i in range(0, 2400, 2)}  # every other sid
    sids.add(held.items())
    assert sids.size == 1200
    asked = [f"EV{i:05d}" for i in range(2400)]
    assert sids.seqs_of(asked) == held
    # The first, the last and those either side of each 500-sid boundary, asked in any order and more than once.
    edges = [f"EV{i:05d}" for i in (0, 498, 499, 500, 501, 998, 999, 1000, 1001, 2398)]
    assert sids.seqs_of(edges + edges[::-1]) == {sid: held[sid] for sid in edges if sid in held}
    assert sids.seqs_of(iter(sorted(held, reverse=True))) == held


def test_any_worker_thread_may_add_and_look_up(sids: SidSet) -> None:
    # asyncio.to_thread picks any worker thread: the set is made on one and used from others.
    found: list[dict[str, int]] = []

    def work() -> None:
        sids.add([("EV1", 1)])
        found.append(sids.seqs_of(["EV1"]))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert found == [{"EV1": 1}] and sids.seqs_of(["EV1"]) == {"EV1": 1}


def test_a_closed_set_answers_no_more() -> None:
    sids = SidSet(cache_kib=64)
    sids.add([("EV1", 1)])
    sids.close()
    with pytest.raises(sqlite3.ProgrammingError):
        sids.seqs_of(["EV1"])


def test_a_closed_set_takes_no_more_and_says_nothing() -> None:
    # An append may finish telling a dedup scope what it stored just after that scope ended and closed its set.
    sids = SidSet()
    sids.close()
    sids.add([("EV1", 1)])
    assert sids.size == 0
