"""JetStreamEventLog beyond the EventLog contract, on real nats-server processes: the stream it creates or
refuses, dedup across replicas and beyond the broker's duplicate window, reads older than its cache, the
backfill lease, and what an unreachable broker does to open() and append()."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import nats
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from nats.js import api
from natsutil import NatsCluster, NatsNode, wait_for

from taskrouter_gateway.eventlog.jetstream import codec
from taskrouter_gateway.eventlog.jetstream.log import JetStreamEventLog, NatsOptions, StreamOptions
from taskrouter_gateway.eventlog.log import DAY_MS, EventLogOpenError, EventLogWriteError, NewEvent

WS1 = "WS" + "1" * 32
WS2 = "WS" + "2" * 32
_names = itertools.count()


def ev(n: int, *, ws: str = WS1, date: int = 1_000) -> NewEvent:
    return NewEvent(f"EV{n:032d}", ws, "task.created", "", date + n, f"payload {n}".encode())


@pytest.fixture
async def open_log(nats_single: NatsCluster) -> AsyncIterator[Callable[..., JetStreamEventLog]]:
    """open_log(stream=None, **options): a log on a fresh stream (or the named one); closed at teardown."""
    opened: list[JetStreamEventLog] = []
    fresh = f"js{next(_names)}x{time.monotonic_ns() % 100_000}"

    async def make(stream: StreamOptions | None = None, **options) -> JetStreamEventLog:
        log = JetStreamEventLog(NatsOptions(servers=tuple(nats_single.urls)),
                                stream or StreamOptions(name=fresh, prefix=fresh), **options)
        await log.open()
        opened.append(log)
        return log

    yield make  # type: ignore[misc]
    for log in opened:
        await log.close()


async def test_open_creates_the_stream_as_the_issue_lays_it_out(open_log, nats_single: NatsCluster) -> None:
    log = await open_log(StreamOptions(name="LAYOUT", prefix="layout.events", max_bytes=10 * 1024 * 1024))
    [result] = await log.append([NewEvent("EV1", WS1, "worker.activity.update", "", 5, b"C{}")])
    nc = await nats.connect(nats_single.urls)
    try:
        info = await nc.jsm().stream_info("LAYOUT")
        config = info.config
        assert config.subjects == ["layout.events.>"]
        assert config.storage == api.StorageType.FILE and config.num_replicas == 1
        assert config.max_age == 30 * DAY_MS / 1000 and config.max_bytes == 10 * 1024 * 1024
        assert config.discard == api.DiscardPolicy.OLD
        assert config.duplicate_window >= 3600
        assert config.deny_delete and config.deny_purge
        raw = await nc.jsm().get_msg("LAYOUT", result.seq)
        assert raw.subject == f"layout.events.{WS1}.worker.activity.update"
        assert raw.headers["Nats-Msg-Id"] == "EV1"
        with pytest.raises(nats.js.errors.APIError):
            await nc.jsm().delete_msg("LAYOUT", result.seq)  # denied: seqs stay gap-free
    finally:
        await nc.close()
    assert log.log_id.startswith("LAYOUT-")


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        (dict(max_age=3600.0), "max_age seconds is 3600 (want 2592000)"),
        (dict(deny_delete=False), "deletes or purges are allowed"),
        (dict(duplicate_window=60.0), "duplicate_window is 60.0s"),
        (dict(storage=api.StorageType.MEMORY), "storage is memory (want file)"),
    ],
)
async def test_an_existing_stream_with_conflicting_settings_is_refused(
    open_log, nats_single: NatsCluster, config: dict, needle: str
) -> None:
    name = f"CONFLICT{next(_names)}"
    wanted = StreamOptions(name=name, prefix=name.lower())
    nc = await nats.connect(nats_single.urls)
    try:
        await nc.jsm().add_stream(wanted.config().evolve(**config))
    finally:
        await nc.close()
    with pytest.raises(EventLogOpenError) as caught:
        await open_log(wanted)
    message = str(caught.value)
    assert f"NATS stream {name} exists with incompatible settings" in message and needle in message
    assert "\n" not in message


async def test_open_on_an_unreachable_broker_fails_with_the_reason(tmp_path: Path) -> None:
    from natsutil import free_port

    url = f"nats://127.0.0.1:{free_port()}"
    log = JetStreamEventLog(NatsOptions(servers=(url,), connect_timeout_s=1.0))
    with pytest.raises(EventLogOpenError, match=f"cannot connect to NATS at {url}: .*(refused|failed)"):
        await log.open()


async def test_two_replicas_on_one_stream_share_order_and_dedup(open_log) -> None:
    first = await open_log()
    second = await open_log(StreamOptions(name=first.stream_name, prefix=first.stream_name))
    assert first.log_id == second.log_id  # a cursor from one resumes on the other
    a, b = await asyncio.gather(
        asyncio.gather(*(first.append([ev(n)]) for n in range(1, 51))),
        asyncio.gather(*(second.append([ev(n)]) for n in range(25, 76))),
    )
    flat = [r for rs in (*a, *b) for r in rs]
    assert sum(not r.duplicate for r in flat) == 75
    assert await first.last_seq() == await second.last_seq() == 75
    from_first = await first.read_after(0, limit=1000)
    assert [e.seq for e in from_first] == list(range(1, 76))
    assert from_first == await second.read_after(0, limit=1000)
    assert len({e.sid for e in from_first}) == 75


async def test_a_sid_the_broker_no_longer_remembers_is_still_not_stored_twice(open_log, nats_single) -> None:
    # The event went in without a msg id: exactly the broker's view of one published longer ago than its
    # duplicate window. Without the replica's own index, appending it again (a backfill) would store it twice.
    log = await open_log()
    old = ev(1, date=5)
    nc = await nats.connect(nats_single.urls)
    try:
        ack = await nc.jetstream().publish(codec.subject_for(log.stream_name, old), codec.encode(old))
    finally:
        await nc.close()
    # A backfill appends a batch: the log first catches up with the stream, then skips what it holds.
    result, fresh = await log.append([old, ev(2)])
    assert (result.seq, result.duplicate) == (ack.seq, True)
    assert (fresh.seq, fresh.duplicate) == (ack.seq + 1, False)
    assert [e.sid for e in await log.read_after(0, limit=10)] == [old.sid, ev(2).sid]
    [again] = await log.append([old])
    assert (again.seq, again.duplicate) == (ack.seq, True)


async def test_reads_older_than_the_cache_come_from_the_stream(open_log) -> None:
    writer = await open_log()
    await writer.append([ev(n, ws=WS1 if n % 2 else WS2) for n in range(1, 21)])
    reader = await open_log(StreamOptions(name=writer.stream_name, prefix=writer.stream_name), cache_size=3)
    assert [e.seq for e in await reader.read_after(0, limit=100)] == list(range(1, 21))
    assert [e.seq for e in await reader.read_after(5, limit=4, workspace_sid=WS2)] == [6, 8, 10, 12]
    assert await reader.read_after(0, limit=100) == await writer.read_after(0, limit=100)
    assert await reader.get(ev(2).sid) == await writer.get(ev(2).sid)
    assert (await reader.get(ev(2).sid)).seq == 2


async def test_a_foreign_message_on_the_subjects_is_skipped_not_fatal(open_log, nats_single) -> None:
    log = await open_log()
    await log.append([ev(1)])
    nc = await nats.connect(nats_single.urls)
    try:
        await nc.jetstream().publish(f"{log.stream_name}.{WS1}.x", b"\x09not ours")
    finally:
        await nc.close()
    [result] = await log.append([ev(3)])
    assert result.seq == 3
    assert [e.seq for e in await log.read_after(0, limit=10)] == [1, 3]
    assert await log.last_seq() == 3


async def test_a_foreign_message_older_than_the_cache_is_skipped_once(open_log, nats_single) -> None:
    # Reads older than the replica's cache go to the broker message by message; a message that is not an event
    # is stepped over there too, and nothing before it is read twice.
    log = await open_log(cache_size=2)
    await log.append([ev(1), ev(2)])
    nc = await nats.connect(nats_single.urls)
    try:
        await nc.jetstream().publish(f"{log.stream_name}.{WS1}.x", b"\x09not ours")  # seq 3
    finally:
        await nc.close()
    assert await log.newest_event_date_ms(WS1) is None  # the workspace's last message is not an event
    await log.append([ev(n) for n in range(4, 9)])  # seqs 4-8; the cache holds 7 and 8
    assert [e.seq for e in await log.read_after(0, limit=10)] == [1, 2, 4, 5, 6, 7, 8]
    assert [e.seq for e in await log.read_after(0, limit=10, workspace_sid=WS1)] == [1, 2, 4, 5, 6, 7, 8]
    assert [e.seq for e in await log.read_after(1, limit=3)] == [2, 4, 5]


async def test_the_newest_event_date_of_a_workspace_comes_from_the_broker(open_log) -> None:
    log = await open_log(cache_size=1)
    assert await log.newest_event_date_ms(WS1) is None  # nothing stored for it yet
    await log.append([ev(1, date=5_000), ev(2, ws=WS2, date=9_000), ev(3, date=7_000)])
    assert await log.newest_event_date_ms(WS1) == 7_003
    assert await log.newest_event_date_ms(WS2) == 9_002


async def test_backfill_lease_lets_one_holder_in_at_a_time(open_log) -> None:
    first = await open_log()
    second = await open_log(StreamOptions(name=first.stream_name, prefix=first.stream_name))
    inside: list[str] = []
    overlaps: list[int] = []
    entered = asyncio.Event()
    release = asyncio.Event()

    async def job(log: JetStreamEventLog, who: str, hold_until: asyncio.Event | None) -> None:
        async with log.exclusive("backfill.WS1"):
            inside.append(who)
            overlaps.append(len(inside))
            entered.set()
            if hold_until is not None:
                await hold_until.wait()
            inside.remove(who)

    a = asyncio.ensure_future(job(first, "a", release))
    await entered.wait()
    b = asyncio.ensure_future(job(second, "b", None))


    async def b_found_it_held() -> None:
        while second.leases is None or second.leases.contended < 2:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(b_found_it_held(), 10)
    assert not b.done() and inside == ["a"]
    release.set()
    await asyncio.wait_for(asyncio.gather(a, b), 20)
    assert overlaps == [1, 1]


async def test_append_without_a_reachable_broker_fails_instead_of_acknowledging_and_works_once_it_is_back(
    tmp_path: Path,
) -> None:
    cluster = NatsCluster(tmp_path, size=1).start()
    try:
        log = JetStreamEventLog(NatsOptions(servers=tuple(cluster.urls)), write_timeout_s=1.0)
        await log.open()
        await log.append([ev(1)])
        node = cluster.nodes[0]
        node.kill()
        with pytest.raises(EventLogWriteError, match="not stored"):
            await log.append([ev(2)])
        # The broker restarts on the same port and store: the log reconnects by itself, no reopen.
        node.start()
        wait_for(node.healthy, 30, "the restarted nats-server")
        deadline = time.monotonic() + 30
        while True:
            try:
                await log.append([ev(3)])  # a retry with the same sid, as a caller's would be
                break
            except EventLogWriteError:
                if time.monotonic() > deadline:
                    raise
        assert [e.sid for e in await log.read_after(0, limit=10)] in ([ev(1).sid, ev(3).sid], [ev(n).sid for n in (1, 2, 3)])
        await log.close()
    finally:
        cluster.stop()


async def test_size_retention_drops_the_oldest_and_the_index_follows(open_log) -> None:
    name = f"retain{next(_names)}"
    log = await open_log(StreamOptions(name=name, prefix=name, max_bytes=8 * 1024))
    await log.append([NewEvent(f"EV{n:032d}", WS1, "task.created", "", n, b"x" * 400) for n in range(1, 61)])
    removed = await log.prune()  # the replica forgets what the broker discarded
    first = await log.first_seq()
    assert 1 < first <= 60 and await log.last_seq() == 60  # the oldest went, seqs go on
    assert removed == first - 1 and await log.prune() == 0  # each removal counted once
    kept = await log.read_after(0, limit=100)
    assert [e.seq for e in kept] == list(range(first, 61))
    assert await log.get(f"EV{1:032d}") is None
    assert await log.seq_at_or_after(0) == first - 1  # "since the beginning" starts at what is kept


async def test_prune_counts_nothing_while_the_broker_has_removed_nothing(open_log) -> None:
    name = f"fresh{next(_names)}"
    log = await open_log(StreamOptions(name=name, prefix=name))  # opened on an empty stream
    await log.append([ev(n) for n in range(3)])
    assert await log.prune() == 0
    again = await open_log(StreamOptions(name=name, prefix=name))  # opened on a stream that holds events
    assert await again.prune() == 0 and await again.first_seq() == 1


async def test_user_and_password_reach_the_broker_and_a_wrong_one_is_a_clear_error(tmp_path: Path) -> None:
    node = NatsNode("auth", tmp_path, extra=["authorization { user: gw, password: s3cret-pw }"])
    node.start()
    try:
        wait_for(node.healthy, 30, "nats-server with authorization")
        good = JetStreamEventLog(NatsOptions(servers=(node.url,), user="gw", password="s3cret-pw"))
        await good.open()
        [result] = await good.append([ev(1)])
        assert result.seq == 1
        await good.close()
        bad = JetStreamEventLog(NatsOptions(servers=(node.url,), user="gw", password="wrong-pw",
                                            connect_timeout_s=2.0))
        with pytest.raises(EventLogOpenError) as caught:
            await bad.open()
        assert "cannot connect to NATS" in str(caught.value) and "wrong-pw" not in str(caught.value)
    finally:
        node.stop()


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1, made with the openssl command."""
    ca_key, ca, key, csr, cert = (directory / n for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem"))
    ext = directory / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    for argv in (
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-days", "1",
         "-subj", "/CN=test-ca"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days", "1",
         "-extfile", ext],
    ):
        subprocess.run(["openssl", *map(str, argv)], check=True, capture_output=True)
    return ca, cert, key


async def test_tls_with_the_servers_ca_connects_and_without_it_is_refused(tmp_path: Path) -> None:
    ca, cert, key = _certificates(tmp_path)
    node = NatsNode("tls", tmp_path, extra=[f'tls {{ cert_file: "{cert}", key_file: "{key}" }}'])
    node.start()
    try:
        wait_for(node.healthy, 30, "nats-server with TLS")
        url = f"tls://127.0.0.1:{node.client_port}"
        log = JetStreamEventLog(NatsOptions(servers=(url,), tls_ca=str(ca)))
        await log.open()
        [result] = await log.append([ev(1)])
        assert result.seq == 1
        await log.close()
        untrusted = JetStreamEventLog(NatsOptions(servers=(url,), connect_timeout_s=2.0))
        with pytest.raises(EventLogOpenError, match="cannot connect to NATS"):
            await untrusted.open()
    finally:
        node.stop()


async def _publish_raw(nats_single: NatsCluster, stream: str, events: list[NewEvent]) -> None:
    """Fills a stream fast, in the gateway's own message layout, as a long-running deployment would have."""
    nc = await nats.connect(nats_single.urls)
    try:
        js = nc.jetstream()
        for i in range(0, len(events), 500):
            acks = [await js.publish_async(codec.subject_for(stream, ev), codec.encode(ev),
                                           headers={"Nats-Msg-Id": ev.sid}) for ev in events[i : i + 500]]
            await asyncio.gather(*acks)
    finally:
        await nc.close()


async def test_a_replica_starts_on_a_long_stream_without_reading_it_and_serves_since_cursors_and_dedup(
    open_log, nats_single
) -> None:
    # Dates mostly rising, with late arrivals and a jump far ahead, as backfills and late callbacks leave them.
    count = 3000
    dates = [10_000_000 + 1000 * n for n in range(count)]
    for n in range(0, count, 97):
        dates[n] -= 3_600_000  # a late arrival, an hour behind its neighbours
    dates[count // 2] += 50 * 24 * 3_600_000  # one dated far ahead of everything after it
    events = [NewEvent(f"EV{n:032d}", WS1 if n % 3 else WS2, "task.created", "", d, b"p" * 200)
              for n, d in enumerate(dates, start=1)]
    writer = await open_log()
    await _publish_raw(nats_single, writer.stream_name, events)

    # The memory budget: 50 events. The old design indexed all 3,000 before serving.
    reader = await open_log(StreamOptions(name=writer.stream_name, prefix=writer.stream_name), cache_size=50)
    assert reader.position == count and reader.cached_events == 0  # nothing read at start-up

    def brute_since(t: int) -> int:
        return next((n - 1 for n, d in enumerate(dates, start=1) if d >= t), count)

    for t in (0, dates[0], dates[1] + 1, dates[97] + 1, dates[1250], dates[count // 2], dates[count // 2] + 1,
              dates[-1], dates[-1] + 1, dates[2000] - 3_600_000):
        assert await reader.seq_at_or_after(t) == brute_since(t), t
    for after in (0, 1, 1234, count - 60, count - 1):
        got = await reader.read_after(after, limit=100, workspace_sid=WS2)
        assert [e.sid for e in got] == [ev.sid for n, ev in enumerate(events, start=1)
                                        if n > after and ev.workspace_sid == WS2][:100]
    # Old events appended again (a backfill of an outage, long after the broker's duplicate window) are found.
    again = [events[10], events[count // 2 + 7], NewEvent("EV" + "9" * 32, WS1, "task.created", "", dates[11], b"n")]
    results = await reader.append(again)
    assert [(r.seq, r.duplicate) for r in results] == [(11, True), (count // 2 + 8, True), (count + 1, False)]
    async with reader.dedup_scope(WS1, dates[100]):
        scoped = await reader.append([events[101], events[count - 2]])
    assert [(r.seq, r.duplicate) for r in scoped] == [(102, True), (count - 1, True)]
    assert reader.cached_events <= 50
    assert await reader.get(events[5].sid) == await writer.get(events[5].sid)


async def test_since_stays_exact_when_events_are_dated_ahead_of_the_brokers_clock(open_log) -> None:
    # TaskRouter's clock (or the emulator's virtual one) two hours ahead: the writer records the lead first, so
    # a replica opened later still starts its scan early enough.
    writer = await open_log()
    ahead = time.time_ns() // 1_000_000 + 2 * 3_600_000
    await writer.append([ev(n, date=ahead) for n in range(1, 11)])  # dated ahead + n
    reader = await open_log(StreamOptions(name=writer.stream_name, prefix=writer.stream_name))
    assert await reader.seq_at_or_after(ahead + 5) == 4
    assert await reader.seq_at_or_after(ahead) == 0
    assert await reader.seq_at_or_after(ahead + 100) == 10


async def test_a_lost_lease_stops_the_work_it_guards(open_log, nats_single) -> None:
    from taskrouter_gateway.eventlog.jetstream.lease import LeaseLost

    log = await open_log(lease_ttl_s=1.5)
    inside = asyncio.Event()
    finished = []

    async def work() -> None:
        async with log.exclusive("backfill.WS1"):
            inside.set()
            await asyncio.Event().wait()  # a backfill that would run on and on
            finished.append(True)

    task = asyncio.ensure_future(work())
    await asyncio.wait_for(inside.wait(), 10)
    nc = await nats.connect(nats_single.urls)
    try:  # another replica takes the lease over (after a partition, say): the key is no longer ours
        kv = await nc.jetstream().key_value(f"{log.stream_name}_leases")
        await kv.put("backfill.WS1", b"someone-else")
        with pytest.raises(LeaseLost, match="lost"):
            await asyncio.wait_for(task, 10)
        assert finished == []
        assert (await kv.get("backfill.WS1")).value == b"someone-else"  # not deleted on the way out
    finally:
        await nc.close()


async def test_a_backfill_that_loses_its_lease_appends_no_further_page_and_marks_nothing(open_log, nats_single) -> None:
    from types import SimpleNamespace

    from taskrouter_gateway.eventlog.jetstream.lease import LeaseLost
    from taskrouter_gateway.ingest.backfill import Backfiller
    from taskrouter_gateway.ingest.ingestor import Ingestor

    log = await open_log(lease_ttl_s=1.5)
    now = time.time_ns() // 1_000_000
    pages = [[{"sid": f"EV{n:032d}", "workspace_sid": WS1, "event_type": "task.created", "event_date_ms": now + n}
              for n in range(first, first + 3)] for first in (1, 4, 7)]
    asked: list[str | None] = []
    second_asked = asyncio.Event()

    class Upstream:  # TaskRouter's Events API: page 1 at once; page 2 slow enough for the lease to be lost
        async def list_page(self, path: str, *, page_token: str | None = None, **_: object):
            asked.append(page_token)
            if page_token is not None:
                second_asked.set()
                await asyncio.sleep(30)
            index = 0 if page_token is None else int(page_token)
            return SimpleNamespace(body={"events": pages[index]}), str(index + 1) if index < 2 else None

    backfiller = Backfiller(Upstream(), log, Ingestor(log, SimpleNamespace(notify=lambda: None)))  # type: ignore[arg-type]
    task = asyncio.ensure_future(backfiller.backfill(WS1, start_ms=now - 60_000))
    await asyncio.wait_for(second_asked.wait(), 10)
    nc = await nats.connect(nats_single.urls)
    try:  # another replica takes the lease over mid-backfill
        await (await nc.jetstream().key_value(f"{log.stream_name}_leases")).put(f"backfill.{WS1}", b"someone-else")
        await asyncio.wait({task}, timeout=10)  # not wait_for: its own cancel on timeout would also end in LeaseLost
        assert task.done(), "the backfill ran on after its lease was lost"
        assert isinstance(task.exception(), LeaseLost)
    finally:
        await nc.close()
    assert asked == [None, "1"]  # no page was asked for after the loss
    assert [e.sid for e in await log.read_after(0, limit=100)] == [item["sid"] for item in pages[0]]
    assert await log.complete_until_ms(WS1) is None  # a stopped backfill does not claim the range complete


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offsets=st.lists(st.integers(-3 * 3600, 3 * 3600), min_size=1, max_size=12),
       probes=st.lists(st.integers(-4 * 3600, 4 * 3600), min_size=1, max_size=6))
async def test_since_matches_a_scan_whatever_the_dates_are_ahead_of_or_behind_the_broker(
    nats_single, offsets, probes
) -> None:
    # Dates up to three hours either side of now, in any order: a fresh replica's answer must match brute force.
    name = f"prop{next(_names)}x{time.monotonic_ns() % 100_000}"
    options = StreamOptions(name=name, prefix=name)
    now = time.time_ns() // 1_000_000
    dates = [now + 1000 * o for o in offsets]
    writer = JetStreamEventLog(NatsOptions(servers=tuple(nats_single.urls)), options)
    await writer.open()
    reader = JetStreamEventLog(NatsOptions(servers=tuple(nats_single.urls)), options, cache_size=1)
    try:
        await writer.append([NewEvent(f"EV{n:032d}", WS1, "task.created", "", d, b"p")
                             for n, d in enumerate(dates, start=1)])
        await reader.open()
        for probe in probes:
            t = now + 1000 * probe
            expected = next((n - 1 for n, d in enumerate(dates, start=1) if d >= t), len(dates))
            assert await reader.seq_at_or_after(t) == expected
    finally:
        await reader.close()
        await writer.close()
