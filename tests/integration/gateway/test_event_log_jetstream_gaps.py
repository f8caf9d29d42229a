"""JetStreamEventLog on a real nats-server, the behaviours its other tests left open (issue 22's mutation
survivors): the log id, close() and what is under way at that moment, the replica's consumer on the broker,
retention removing events before a stalled replica read them (the gap, its listeners and readiness), reads
and scans across the edge of the replica's cache, and the lease's counting and retrying.

A consumer "stalls" here by unsubscribing the replica's consumer and resumes by subscribing it again: what a
paused process or a partition does to it, without pausing the test's own process."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable

import nats
import pytest
from natsutil import NatsCluster
from structlog.testing import capture_logs

from test_event_log_jetstream import WS1, WS2, ev, open_log  # noqa: F401 - open_log is the fixture: open_log(stream, **options)
from taskrouter_gateway.eventlog.jetstream.lease import KvLeases, LeaseUnavailable
from taskrouter_gateway.eventlog.jetstream.log import JetStreamEventLog, NatsOptions, StreamOptions
from taskrouter_gateway.eventlog.log import EventLogClosed, EventLogError, NewEvent, StoredEvent

_names = itertools.count()


def fresh_stream(**options) -> StreamOptions:
    name = f"jsg{next(_names)}x{time.monotonic_ns() % 100_000}"
    return StreamOptions(name=name, prefix=name, **options)


async def until(predicate: Callable[[], object], what: str, timeout: float = 20.0) -> None:
    """Waits for a condition (the timeout is only a hang guard)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def stall(log: JetStreamEventLog) -> None:
    await log._parts.consumer.unsubscribe()  # type: ignore[union-attr]


async def resume(log: JetStreamEventLog) -> None:
    await log._parts.consumer.subscribe()  # type: ignore[union-attr]


# -- open and close -----------------------------------------------------------------------------------------


async def test_the_log_id_is_the_stream_name_and_its_creation_time(open_log, nats_single) -> None:
    stream = fresh_stream()
    log = await open_log(stream)
    nc = await nats.connect(nats_single.urls)
    try:
        created = (await nc.jsm().stream_info(stream.name)).created
    finally:
        await nc.close()
    from nats.js import api

    stamp = int(api.Base._parse_utc_iso(created).timestamp() * 1000) if isinstance(created, str) else \
        int(created.timestamp() * 1000)
    assert stamp > 0
    assert log.log_id == f"{stream.name}-{stamp:x}"


async def test_close_lets_an_append_already_under_way_finish(open_log) -> None:
    log = await open_log(fresh_stream(), write_timeout_s=1.0)
    task = asyncio.ensure_future(log.append([ev(1)]))
    while not log._lifecycle.appending:  # one step of the append's task: it has sent its publish, no more
        await asyncio.sleep(0)
    await log.close()
    [result] = await task  # acknowledged, not cut off by the closing connection
    assert (result.seq, result.duplicate) == (1, False)


async def test_a_read_waiting_for_the_consumer_fails_as_closed_when_the_log_closes(open_log) -> None:
    log = await open_log(fresh_stream(), read_timeout_s=2.0)
    await stall(log)
    await log.append([ev(1)])  # acknowledged at seq 1; the stalled consumer never gets there
    read = asyncio.ensure_future(log.read_after(0, limit=10))
    await until(lambda: log._parts.consumer._waiters, "the read to wait for the consumer")
    await log.close()
    with pytest.raises(EventLogClosed):
        await asyncio.wait_for(read, 10)


async def test_a_read_of_an_event_the_consumer_has_not_reached_times_out_naming_where_it_stands(open_log) -> None:
    log = await open_log(fresh_stream(max_msgs=1), read_timeout_s=0.5)
    await log.append([ev(1)])
    assert await log.last_seq() == 1
    await stall(log)
    await log.append([ev(2)])  # the stream now holds seq 2 alone: nothing was lost that the consumer needed
    with pytest.raises(EventLogError, match=r"reading timed out at seq 1 of 2") as caught:
        await log.read_after(0, limit=10)
    assert not isinstance(caught.value, EventLogClosed)
    assert log.gaps == 0


# -- the replica's consumer ------------------------------------------------------------------------------------


async def test_the_replica_reads_through_one_ordered_consumer_from_the_end_of_the_stream(open_log, nats_single) -> None:
    stream = fresh_stream()
    writer = await open_log(stream)
    await writer.append([ev(n) for n in range(1, 4)])
    nc = await nats.connect(nats_single.urls)
    try:
        before = {c.name for c in await nc.jsm().consumers_info(stream.name)}
        await open_log(stream)
        [consumer] = [c for c in await nc.jsm().consumers_info(stream.name) if c.name not in before]
        config = consumer.config
        # An ordered consumer: no acks, kept in memory, one replica, flow controlled; from just after the last seq.
        assert config.ack_policy == nats.js.api.AckPolicy.NONE
        assert config.mem_storage and config.num_replicas == 1 and config.flow_control
        assert config.deliver_policy == nats.js.api.DeliverPolicy.BY_START_SEQUENCE and config.opt_start_seq == 4
        assert config.idle_heartbeat == 1.0
        assert config.filter_subject == f"{stream.prefix}.>"
    finally:
        await nc.close()


class Heard:
    """A replica's listeners: commits (seqs), gaps (first, last, not_ready_reason() as the gap was heard)."""

    def __init__(self, log: JetStreamEventLog) -> None:
        self.seqs: list[int] = []
        self.gaps: list[tuple[int, int, str | None]] = []

        def failing_commit(events: list[StoredEvent]) -> None:
            raise RuntimeError("a listener that fails")

        def failing_gap(first: int, last: int) -> None:
            raise RuntimeError("a listener that fails")

        log.add_commit_listener(failing_commit)  # first: the next listener still hears
        log.add_commit_listener(lambda events: self.seqs.extend(e.seq for e in events))
        log.add_gap_listener(failing_gap)
        log.add_gap_listener(lambda first, last: self.gaps.append((first, last, log.not_ready_reason())))


async def test_a_consumer_that_resumes_after_retention_removed_events_reports_the_gap_and_catches_up(
    open_log,
) -> None:
    stream = fresh_stream(max_msgs=5)
    log = await open_log(stream)
    heard = Heard(log)
    await log.append([ev(n) for n in range(1, 4)])
    await until(lambda: heard.seqs == [1, 2, 3], "the first events to be heard")
    await stall(log)
    other = await open_log(stream)
    await other.append([ev(n) for n in range(4, 14)])  # seqs 4..13; the stream keeps 9..13
    with capture_logs() as logs:
        await resume(log)
        await until(lambda: any(e["event"] == "event_log.caught_up" for e in logs), "the replica to catch up")
    assert log.gaps == 1
    assert heard.gaps == [(4, 8, None)]  # the consumer stands at 9, past the gap: nothing more to catch up
    await until(lambda: heard.seqs[-1:] == [13], "the newest event to be heard")
    assert heard.seqs == [1, 2, 3, 9, 10, 11, 12, 13]  # never the lost ones, and on after the gap
    [gap] = [e for e in logs if e["event"] == "event_log.gap"]
    assert (gap["first_lost"], gap["last_lost"], gap["lost"]) == (4, 8, 5)
    assert log.not_ready_reason() is None
    assert [e.seq for e in await log.read_after(0, limit=10)] == [9, 10, 11, 12, 13]


async def test_a_read_that_finds_its_events_removed_moves_past_them_and_the_replica_is_not_ready_until_caught_up(
    open_log,
) -> None:
    stream = fresh_stream(max_msgs=5)
    log = await open_log(stream, read_timeout_s=0.5)
    heard = Heard(log)
    await log.append([ev(n) for n in range(1, 4)])
    await until(lambda: heard.seqs == [1, 2, 3], "the first events to be heard")
    await stall(log)
    await log.append([ev(4)])  # acknowledged at 4; the stalled consumer stays at 3
    other = await open_log(stream)
    await other.append([ev(n) for n in range(5, 15)])  # seqs 5..14; the stream keeps 10..14
    with capture_logs() as logs:
        # The read waits for seq 4, which is gone: it moves the consumer past what retention removed (to 9).
        await log.read_after(0, limit=10)
        assert log.gaps == 1
        assert heard.gaps == [(4, 9, "catching up with the event stream after losing events to retention"
                                       " (at seq 9 of 10)")]
        await until(lambda: any(e["event"] == "event_log.catch_up_retry" for e in logs), "a catch-up attempt")
        assert log.not_ready_reason() == ("catching up with the event stream after losing events to retention"
                                          " (at seq 9 of 14)")
        await resume(log)
        await until(lambda: any(e["event"] == "event_log.caught_up" for e in logs), "the replica to catch up")
    assert log.not_ready_reason() is None and log.position == 14
    assert heard.seqs == [1, 2, 3, 10, 11, 12, 13, 14]
    assert [e.seq for e in await log.read_after(0, limit=10)] == [10, 11, 12, 13, 14]


# -- reads across the edge of the cache ------------------------------------------------------------------------


@pytest.fixture
async def one_older_than_the_cache(open_log) -> JetStreamEventLog:
    """A replica whose cache (3 events) holds seqs 2..4 and the stream also seq 1: one event older than it."""
    stream = fresh_stream()
    writer = await open_log(stream)
    await writer.append([ev(1)])
    reader = await open_log(stream, cache_size=3)
    await writer.append([ev(2, ws=WS2), ev(3), ev(4, ws=WS2)])
    await until(lambda: reader.position == 4, "the reader's consumer to read seq 4")
    assert reader.cached_events == 3
    return reader


async def test_reads_across_the_edge_of_the_cache(one_older_than_the_cache: JetStreamEventLog) -> None:
    log = one_older_than_the_cache

    async def seqs(after: int, limit: int, ws: str | None = None) -> list[int]:
        return [e.seq for e in await log.read_after(after, limit=limit, workspace_sid=ws)]

    assert await seqs(0, 10) == [1, 2, 3, 4]
    assert await seqs(0, 1) == [1]
    assert await seqs(0, 2) == [1, 2]
    assert await seqs(0, 4) == [1, 2, 3, 4]
    assert await seqs(0, 3) == [1, 2, 3]
    assert await seqs(1, 10) == [2, 3, 4]
    assert await seqs(1, 1) == [2]
    assert await seqs(2, 10) == [3, 4]
    assert await seqs(0, 10, WS1) == [1, 3]
    assert await seqs(0, 1, WS2) == [2]
    assert await seqs(0, 10, WS2) == [2, 4]


async def test_lookups_by_sid_find_events_on_both_sides_of_the_edge_of_the_cache(
    one_older_than_the_cache: JetStreamEventLog,
) -> None:
    log = one_older_than_the_cache
    for n in (1, 2, 3, 4):
        found = await log.get(ev(n).sid)
        assert found is not None and (found.seq, found.sid) == (n, ev(n).sid)
    assert await log.get(ev(5).sid) is None


# -- leases -----------------------------------------------------------------------------------------------------


async def test_a_lease_held_elsewhere_is_refused_after_one_attempt_when_there_is_no_time_to_wait(open_log) -> None:
    log = await open_log(fresh_stream())
    js = log.connection.jetstream()
    holder = KvLeases(js, f"{log.stream_name}_leases", ttl_s=5, replicas=1)
    other = KvLeases(js, f"{log.stream_name}_leases", ttl_s=5, replicas=1)
    assert other.contended == 0
    async with holder.hold("job"):
        with pytest.raises(LeaseUnavailable, match="lease job is held by another replica"):
            async with other.hold("job", wait_s=0):
                pytest.fail("entered a lease held by another")
        assert other.contended == 1
    async with other.hold("job", wait_s=0):  # given back on the way out: free at once
        assert other.contended == 1


async def test_a_lease_store_that_does_not_answer_is_retried_until_it_does(open_log, nats_single) -> None:
    log = await open_log(fresh_stream(), read_timeout_s=0.5)
    bucket = f"{log.stream_name}_leases"
    async with log.exclusive("job"):  # the bucket exists, and the log holds it open
        pass
    nc = await nats.connect(nats_single.urls)
    try:
        await nc.jsm().delete_stream(f"KV_{bucket}")  # gone, as if its servers were down: no answer
        asked = asyncio.Event()

        async def heard(msg) -> None:
            asked.set()

        listener = await nc.subscribe(f"$KV.{bucket}.job", cb=heard)  # hears the attempt, never answers it
        inside = asyncio.Event()

        async def job() -> None:
            async with log.exclusive("job"):
                inside.set()

        task = asyncio.ensure_future(job())
        await asyncio.wait_for(asked.wait(), 10)  # the first attempt went unanswered
        await listener.unsubscribe()
        await nc.jetstream().create_key_value(nats.js.api.KeyValueConfig(bucket=bucket, history=1, ttl=30))
        await asyncio.wait_for(task, 20)  # taken once the store answers again
        assert inside.is_set()
    finally:
        await nc.close()


# -- writes the broker refuses or never acknowledges, and the connection at close -------------------------------


async def test_an_event_the_stream_refuses_is_not_stored_and_the_error_says_why(open_log, nats_single) -> None:
    stream = fresh_stream()
    nc = await nats.connect(nats_single.urls)
    try:  # a stream an operator made with a message size limit: nothing in the log's settings forbids it
        await nc.jsm().add_stream(stream.config().evolve(max_msg_size=256))
    finally:
        await nc.close()
    log = await open_log(stream, write_timeout_s=3.0)
    big = NewEvent("EV" + "7" * 32, WS1, "task.created", "", 1_000, b"x" * 1024)
    with pytest.raises(EventLogError, match=f"^event {big.sid} not stored: message size exceeds maximum allowed$"):
        await log.append([big])
    [small] = await log.append([ev(1)])  # refused once, not broken
    assert (small.seq, small.duplicate) == (1, False)


async def test_an_append_the_broker_never_acknowledges_fails_after_the_write_timeout(tmp_path) -> None:
    cluster = NatsCluster(tmp_path, size=1).start()
    try:
        log = JetStreamEventLog(NatsOptions(servers=tuple(cluster.urls)), fresh_stream(), write_timeout_s=1.0,
                                read_timeout_s=1.0)
        await log.open()
        now = time.time_ns() // 1_000_000  # dated now: nothing to look for first, straight to the publish
        await log.append([NewEvent("EV" + "1" * 32, WS1, "task.created", "", now, b"1")])
        cluster.nodes[0].kill()
        late = NewEvent("EV" + "2" * 32, WS1, "task.created", "", now, b"2")
        with pytest.raises(EventLogError, match=f"^event {late.sid} not stored: no acknowledgement from NATS stream"
                                                f" {log.stream_name} within 1.0s$"):
            await asyncio.wait_for(log.append([late]), 20)
        with pytest.raises(EventLogError) as caught:  # a mark is a write too: refused as one
            await asyncio.wait_for(log.mark_complete_until(WS1, now), 20)
        from taskrouter_gateway.eventlog.log import EventLogWriteError

        assert isinstance(caught.value, EventLogWriteError)
        await log.close()
    finally:
        cluster.stop()


async def test_closing_the_log_closes_its_connection(open_log) -> None:
    log = await open_log(fresh_stream())
    nc = log.connection
    assert nc.is_connected
    await log.close()
    assert nc.is_closed
    with pytest.raises(EventLogClosed):
        log.connection  # noqa: B018 - the property raises


async def test_close_does_not_wait_longer_than_the_write_timeout_for_an_append_that_hangs(tmp_path) -> None:
    import signal

    cluster = NatsCluster(tmp_path, size=1).start()
    node = cluster.nodes[0]
    try:
        log = JetStreamEventLog(NatsOptions(servers=tuple(cluster.urls)), fresh_stream(), write_timeout_s=0.5,
                                read_timeout_s=3.0)
        await log.open()
        node.process.send_signal(signal.SIGSTOP)  # the broker stops answering; the connection stays up
        # Dated ahead: the append must first record the lead in the shared marks, and waits for that read.
        ahead = time.time_ns() // 1_000_000 + 3_600_000
        task = asyncio.ensure_future(log.append([NewEvent("EV" + "3" * 32, WS1, "task.created", "", ahead, b"3")]))
        while not log._lifecycle.appending:
            await asyncio.sleep(0)
        with capture_logs() as logs:
            await asyncio.wait_for(log.close(), 20)  # gives up on the append after write_timeout + 1
        assert [e["appending"] for e in logs if e["event"] == "event_log.close_with_appends_pending"] == [1]
        with pytest.raises(EventLogError):  # its read gives up in its own time (read_timeout)
            await asyncio.wait_for(task, 20)
    finally:
        if node.process is not None:
            node.process.send_signal(signal.SIGCONT)
        cluster.stop()


async def test_an_append_whose_dedup_scope_cannot_learn_it_still_succeeds_and_close_does_not_wait(
    open_log, monkeypatch
) -> None:
    from taskrouter_gateway.eventlog.jetstream import sid_set

    log = await open_log(fresh_stream())
    async with log.dedup_scope(WS1, 0):
        def full_disk(self, pairs) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(sid_set.SidSet, "add", full_disk)
        with capture_logs() as logs:
            [result] = await log.append([ev(1)])
        monkeypatch.undo()
    # Stored is stored: the caller gets its seq, the failure is logged, and nothing is left counted as under way.
    assert result.seq == 1 and not result.duplicate
    assert (await log.get(ev(1).sid)) is not None
    assert any(entry["event"] == "event_log.dedup_learn_failed" for entry in logs)
    assert log._lifecycle.appending == 0
    with capture_logs() as closing:
        await log.close()
    assert not [e for e in closing if e["event"] == "event_log.close_with_appends_pending"]
