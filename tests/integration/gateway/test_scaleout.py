"""Scale-out on JetStream with real processes: a three-node NATS cluster (R3 stream, sync_interval always) and
two gateway replicas started by the CLI. Callbacks go to either replica; subscribers on each must see every
acknowledged event exactly once, in one order, across gateway crashes and a broker leader failover."""

from __future__ import annotations

import asyncio
import time
import itertools
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import nats
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from natsutil import NatsCluster, running_cluster, wait_for
from replicas import WS, Replica, Subscriber, callback, post, start_replicas

from taskrouter.gateway.v1 import event_service_pb2 as e
from taskrouter_gateway.eventlog import records
from taskrouter_gateway.eventlog.jetstream import codec
from taskrouter_gateway.eventlog.jetstream.log import JetStreamEventLog, NatsOptions, StreamOptions
from taskrouter_gateway.translate.events import event_from_rest

pytestmark = pytest.mark.slow
_streams = itertools.count()


@pytest.fixture(scope="module")
def cluster3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    with running_cluster(tmp_path_factory.mktemp("nats3"), 3) as cluster:
        yield cluster


def stream_name() -> str:
    return f"SCALE{next(_streams)}"


def since_start() -> e.StreamEventsRequest:
    return e.StreamEventsRequest(workspace_sid=WS, since=Timestamp(seconds=0))


async def stored_sids(cluster: NatsCluster, stream: str) -> tuple[list[str], object]:
    """Every event sid in the stream in seq order, read straight from the broker, and the stream's state."""
    nc = await nats.connect(cluster.urls)
    try:
        jsm = nc.jsm()
        state = (await jsm.stream_info(stream)).state
        sids = []
        for seq in range(state.first_seq, state.last_seq + 1):
            raw = await jsm.get_msg(stream, seq)
            sids.append(codec.decode(raw.data, seq, 0).sid)
        return sids, state
    finally:
        await nc.close()


async def send_until_acked(http: aiohttp.ClientSession, replicas: list[Replica], params: dict, first: int,
                           acked: set[str], *, on_ack=None, patience: float = 60.0) -> None:
    """Like TaskRouter (or a load balancer) retrying: another replica after a failure, until a 204."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    turn = first
    while loop.time() < deadline:
        status = await post(http, replicas[turn % len(replicas)], params)
        if status == 204:
            acked.add(params["Sid"])
            if on_ack is not None:
                on_ack()
            return
        assert status in (0, 503), status  # unreachable replica, or not acknowledged: never another answer
        turn += 1
        await asyncio.sleep(0.05)  # retry pacing, as a sender would; nothing waits on it


async def test_any_replica_ingests_and_every_replica_delivers_once_in_the_same_order(cluster3) -> None:
    stream = stream_name()
    a, b = await start_replicas(cluster3, stream, 2)
    subs = [Subscriber(r.target, since_start()) for r in (a, b)]
    try:
        params = [callback(i) for i in range(200)]
        acked: set[str] = set()
        async with aiohttp.ClientSession() as http:
            sem = asyncio.Semaphore(16)

            async def send(i: int) -> int:
                async with sem:
                    return await post(http, (a, b)[i % 2], params[i])

            statuses = await asyncio.gather(*(send(i) for i in range(200)))
        assert statuses == [204] * 200
        acked = {p["Sid"] for p in params}
        for sub in subs:
            await sub.wait_for(lambda sub=sub: len(sub.items) >= 200)
        assert subs[0].sids == subs[1].sids
        assert len(subs[0].sids) == 200 and set(subs[0].sids) == acked
        assert [c for _, c in subs[0].items] == [c for _, c in subs[1].items]  # one cursor space

        # A cursor issued by A resumes on B with no gap and no duplicate.
        sid_100, cursor_100 = subs[0].items[99]
        resumed = Subscriber(b.target, e.StreamEventsRequest(workspace_sid=WS, after_cursor=cursor_100))
        await resumed.wait_for(lambda: len(resumed.items) >= 100)
        assert resumed.sids == subs[0].sids[100:]
        await resumed.close()
        stored, state = await stored_sids(cluster3, stream)
        assert stored == subs[0].sids and (state.first_seq, state.last_seq) == (1, 200)

        # Thirty more subscribers, replaying and live: still one broker consumer per replica, none per subscriber.
        more = [Subscriber((a, b)[i % 2].target, since_start()) for i in range(30)]
        subs.extend(more)
        for sub in more:
            await sub.wait_for(lambda sub=sub: len(sub.items) >= 200)
        nc = await nats.connect(cluster3.urls)
        try:
            consumers = await nc.jsm().consumers_info(stream)
        finally:
            await nc.close()
        assert len(consumers) == 2
    finally:
        for sub in subs:
            await sub.close()
        for replica in (a, b):
            replica.stop()


async def test_the_same_callback_sent_to_two_replicas_at_once_is_stored_once(cluster3) -> None:
    stream = stream_name()
    a, b = await start_replicas(cluster3, stream, 2)
    sub = Subscriber(a.target, since_start())
    try:
        params = [callback(i) for i in range(40)]
        async with aiohttp.ClientSession() as http:
            statuses = await asyncio.gather(*(post(http, r, p) for p in params for r in (a, b)))
            assert statuses == [204] * 80
            last = callback(99)
            assert await post(http, b, last) == 204
        await sub.wait_for(lambda: last["Sid"] in sub.sids)
        assert sorted(sub.sids) == sorted([p["Sid"] for p in params] + [last["Sid"]])
        stored, state = await stored_sids(cluster3, stream)
        assert len(stored) == len(set(stored)) == 41 == state.messages
    finally:
        await sub.close()
        a.stop()
        b.stop()


async def test_a_replica_killed_mid_burst_loses_nothing_acknowledged(cluster3) -> None:
    stream = stream_name()
    a, b = await start_replicas(cluster3, stream, 2)
    first = Subscriber(a.target, since_start())
    acked: set[str] = set()
    try:
        async with aiohttp.ClientSession() as http:
            sem = asyncio.Semaphore(16)

            def maybe_kill() -> None:
                if len(acked) == 120:
                    a.kill()

            async def send(i: int) -> None:
                async with sem:
                    await send_until_acked(http, [a, b], callback(i), i, acked, on_ack=maybe_kill)

            await asyncio.gather(*(send(i) for i in range(400)))
        assert a.process is None or a.process.returncode is not None
        assert len(acked) == 400  # the senders got through on the survivor
        await first.wait_for(lambda: first.ended is not None)
        resumed = Subscriber(b.target, e.StreamEventsRequest(workspace_sid=WS, after_cursor=first.cursor)
                             if first.cursor else since_start())
        await resumed.wait_for(lambda: acked <= set(first.sids) | set(resumed.sids))
        everything = first.sids + resumed.sids
        assert len(everything) == len(set(everything)), "an event arrived twice"
        await resumed.close()
        stored, _ = await stored_sids(cluster3, stream)
        assert set(stored) == acked and len(stored) == len(acked)
    finally:
        await first.close()
        a.kill()
        b.stop()


async def test_killing_the_stream_leader_mid_burst_never_acknowledges_a_lost_event(tmp_path: Path) -> None:
    cluster = NatsCluster(tmp_path, size=3).start()
    stream = stream_name()
    replicas: list[Replica] = []
    try:
        replicas = await start_replicas(cluster, stream, 2)
        acked: set[str] = set()
        killed: list[str] = []

        def maybe_kill() -> None:
            if len(acked) == 150 and not killed:
                leader = cluster.stream_leader(stream)
                cluster.node(leader).kill()
                killed.append(leader)

        async with aiohttp.ClientSession() as http:
            sem = asyncio.Semaphore(16)

            async def send(i: int) -> None:
                async with sem:
                    await send_until_acked(http, replicas, callback(i), i, acked, on_ack=maybe_kill)

            await asyncio.gather(*(send(i) for i in range(500)))
        assert killed and len(acked) == 500

        sub = Subscriber(replicas[1].target, since_start())
        await sub.wait_for(lambda: acked <= set(sub.sids))
        await sub.close()
        stored, state = await stored_sids(cluster, stream)
        assert len(stored) == len(set(stored)) == state.messages, "an event was stored twice"
        assert set(stored) == acked
        assert (state.first_seq, state.last_seq) == (1, len(stored)), "sequences have a gap"

        # The killed node comes back and catches up with everything the others stored.
        node = cluster.node(killed[0])
        node.start()
        wait_for(node.healthy, 30, "the restarted node's /healthz")

        def caught_up() -> bool:
            for account in node.varz("jsz?streams=true").get("account_details") or ():
                for detail in account.get("stream_detail") or ():
                    if detail["name"] == stream:
                        return detail["state"]["last_seq"] == state.last_seq
            return False

        wait_for(caught_up, 30, "the restarted node to catch up with the stream")
    finally:
        for replica in replicas:
            replica.stop()
        cluster.stop()


async def test_two_replicas_backfill_one_at_a_time_and_store_old_events_once(
    cluster3, emulator, emulator_http
) -> None:
    ws = emulator.config.default_workspace_sid
    # Dated two hours ago, beyond the broker's one-hour duplicate window, as after a long outage.
    async with emulator_http.post("/admin/clock", json={"virtual": True, "now": time.time() - 7200}) as r:
        assert r.status == 200
    for i in range(5):
        async with emulator_http.post(f"/v1/Workspaces/{ws}/Workers", data={"FriendlyName": f"bf{i}"}) as r:
            assert r.status == 201
    async with emulator_http.get(f"/v1/Workspaces/{ws}/Events", params={"PageSize": "1000"}) as r:
        items = (await r.json())["events"]
    assert len(items) >= 5
    stream = stream_name()
    # One event is already in the stream with no msg id: as if stored before the broker's duplicate window.
    aged = next(item for item in items if item["event_type"] == "worker.created")
    old = records.from_rest(aged, event_from_rest(aged))
    log = JetStreamEventLog(NatsOptions(tuple(cluster3.urls)), StreamOptions(name=stream, prefix=stream.lower(),
                                                                              replicas=3))
    await log.open()
    await log.connection.jetstream().publish(codec.subject_for(stream.lower(), old), codec.encode(old))
    await log.close()

    env = dict(
        TWILIO_ACCOUNT_SID=emulator.config.account_sid, TWILIO_AUTH_TOKEN=emulator.config.auth_token,
        TASKROUTER_GATEWAY_TASKROUTER_BASE_URL=emulator.base_url, TASKROUTER_GATEWAY_API_BASE_URL=emulator.base_url,
        TASKROUTER_GATEWAY_BACKFILL_ON_START="true", TASKROUTER_GATEWAY_WORKSPACES=ws,
    )
    replicas = [Replica(cluster3, stream, env=env, log_level="info").start() for _ in range(2)]
    try:
        for replica in replicas:
            await replica.ready()

        def done(replica: Replica) -> list[dict]:
            return [line for line in replica.json_lines() if line.get("event") == "backfill done"]

        async def both_done() -> None:
            while not all(done(r) for r in replicas):
                await asyncio.sleep(0.05)

        try:
            await asyncio.wait_for(both_done(), 60)
        except TimeoutError:
            raise AssertionError("\n".join(line for r in replicas for line in r.lines[-30:])) from None
        second, first = sorted((done(r)[0]["appended"], done(r)[0]["duplicates"], done(r)[0]["fetched"])
                               for r in replicas)
        # One replica stored what was missing, the aged copy excepted; the other, let in after it, started at
        # the mark the first one left and found every event it fetched already there.
        assert first == (len(items) - 1, 1, len(items))
        assert second[0] == 0 and second[1] == second[2] >= 1
        stored, _ = await stored_sids(cluster3, stream)
        assert sorted(stored) == sorted(item["sid"] for item in items)
        assert stored.count(old.sid) == 1
        taken = [r for r in replicas if any(line.get("event") == "lease.taken" for line in r.json_lines())]
        assert len(taken) == 2  # each held the lease in turn
    finally:
        for replica in replicas:
            replica.stop()


def _serve_once(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)


async def test_bad_nats_configuration_is_one_clear_line_at_start_up(cluster3) -> None:
    from natsutil import free_port

    unreachable = Replica(cluster3, stream_name())
    url = f"nats://127.0.0.1:{free_port()}"
    args = [url if arg == cluster3.url_list else arg for arg in unreachable.args]
    done = await asyncio.to_thread(_serve_once, args, unreachable.env)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"taskrouter-gateway: cannot start: cannot connect "
                                                   f"to NATS at {url}"), done.stderr

    stream = stream_name()
    log = JetStreamEventLog(NatsOptions(tuple(cluster3.urls)), StreamOptions(name=stream, prefix=stream.lower()))
    await log.open()  # an R1 stream of that name already exists
    await log.close()
    conflicting = Replica(cluster3, stream, replicas=3)
    done = await asyncio.to_thread(_serve_once, conflicting.args, conflicting.env)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "exists with incompatible settings: replicas is 1 (want 3)" in lines[0], done.stderr


async def test_a_callback_the_broker_cannot_acknowledge_gets_503_never_204(tmp_path: Path) -> None:
    with running_cluster(tmp_path, 1) as cluster:
        replica = Replica(cluster, stream_name(), replicas=1)
        try:
            await replica.start().ready()
            async with aiohttp.ClientSession() as http:
                assert await post(http, replica, callback(1)) == 204
                cluster.nodes[0].kill()
                assert await post(http, replica, callback(2)) == 503
        finally:
            replica.stop()
