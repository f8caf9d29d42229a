"""7. Scale-out on NATS JetStream: a three-node cluster (R3 stream, sync_interval always) and two gateway
replicas, every figure against one measured in this same run.

- callbacks/s accepted by one JetStream replica vs one SQLite replica (the main gateway), same load job;
- callbacks/s of two replicas (one load process each) vs one;
- callback->subscriber latency with the callbacks posted to replica A and the subscribers on replica B;
- the longest ingest outage while the stream's leader node is SIGKILLed mid-load, senders retrying on the
  other replica, and how many acknowledged callbacks are missing from the stream afterwards (must be 0).

All of it on this machine's cores: the NATS nodes run beside the load generators, so on a small machine the
ratios say what these processes do when they share it, not what separate machines would.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from .. import procs
from ..agent import work_timeout
from ..callbacks import callback_params
from ..context import RunContext
from .fanout import latency

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))  # the nats-server helpers tests use
from natsutil import NatsCluster, free_port  # noqa: E402

STREAM = "BENCH_SCALEOUT"
PUBLIC_URL = "http://callbacks.bench.test/twilio/taskrouter/events"  # the load balancer's URL, signed for
PLAN = {
    "full": {"pool": 30_000, "concurrency": 32, "latency_rate": 1000.0, "latency_subscribers": 100,
             "latency_seconds": 5.0, "outage_rate": 200.0, "outage_seconds": 15.0, "kill_after": 3.0},
    "smoke": {"pool": 2_000, "concurrency": 8, "latency_rate": 100.0, "latency_subscribers": 4,
              "latency_seconds": 1.0, "outage_rate": 50.0, "outage_seconds": 4.0, "kill_after": 1.0},
}


def start_replica(ctx: RunContext, cluster: NatsCluster, tag: str, cores: set[int]) -> procs.Gateway:
    emulator = ctx.ensure_emulator()
    port = free_port()
    env = procs._python_env({
        "TWILIO_ACCOUNT_SID": emulator.account_sid, "TWILIO_AUTH_TOKEN": emulator.auth_token,
        "TASKROUTER_GATEWAY_TASKROUTER_BASE_URL": emulator.base_url,
        "TASKROUTER_GATEWAY_API_BASE_URL": emulator.base_url, "TASKROUTER_GATEWAY_BACKFILL_ON_START": "false",
    })
    argv = [
        sys.executable, "-m", "taskrouter_gateway.cli", "serve", "--grpc-port", "0", "--webhook-port", str(port),
        "--webhook-public-url", PUBLIC_URL, "--event-backend", "nats", "--nats-url", cluster.url_list,
        "--nats-stream", STREAM, "--nats-replicas", "3", "--log-level", "warning",
    ]
    process = procs.ServerProcess(f"replica-{tag}", argv, env, ctx.log_dir / f"replica-{tag}.log", cores)
    [banner] = process.read_lines(1, timeout=60)
    found = re.match(r"TaskRouter gateway: gRPC on (\S+), event webhook on", banner)
    if not found:
        process.stop()
        raise procs.StartError(f"replica {tag}: unexpected banner {banner!r}")
    return procs.Gateway(process, found.group(1), f"http://127.0.0.1:{port}/twilio/taskrouter/events")


def _address(gateway: procs.Gateway) -> str:
    return gateway.webhook_url.split("/")[2]


def _ingest_row(name: str, result: dict[str, Any], cpu: float) -> dict[str, Any]:
    accepted = max(int(result["requests"]), 1)
    return {
        "setup": name, "accepted": int(result["requests"]), "errors": int(result["errors"]),
        "first_error": result["first_error"], "per_second": result["rps"], "p50_ms": result["p50_ms"],
        "p99_ms": result["p99_ms"], "gateway_cpu_us_per_callback": cpu / accepted * 1e6,
    }


def ingest(ctx: RunContext, sqlite: procs.Gateway, a: procs.Gateway, b: procs.Gateway) -> list[dict[str, Any]]:
    plan = PLAN[ctx.size.name]
    emulator = ctx.ensure_emulator()
    common = {
        "auth_token": emulator.auth_token, "account_sid": emulator.account_sid,
        "workspace_sid": emulator.workspace_sid, "pool": plan["pool"], "concurrency": plan["concurrency"],
        "warmup": ctx.size.warmup, "seconds": ctx.size.seconds,
    }
    job = "bench.jobs_http:signed_callbacks_loop"
    one_sqlite = ctx.measure({"gw": sqlite.process}, job, webhook_url=sqlite.webhook_url, run_tag=ctx.run_tag(),
                             **common)
    one_js = ctx.measure({"gw": a.process}, job, webhook_url=PUBLIC_URL, send_to=_address(a), run_tag=ctx.run_tag(),
                         **common)
    # Two replicas, one load process each, measured over the same window.
    first, second = ctx.agents
    before = a.process.cpu_seconds() + b.process.cpu_seconds()
    first.start(job, webhook_url=PUBLIC_URL, send_to=_address(a), run_tag=ctx.run_tag(), **common)
    second.start(job, webhook_url=PUBLIC_URL, send_to=_address(b), run_tag=ctx.run_tag(), **common)
    for agent_ in (first, second):  # each presigns its pool before the window starts
        agent_.wait_mark("start", timeout=work_timeout(events=int(plan["pool"]), seconds=ctx.size.warmup))
    for agent_ in (first, second):
        agent_.wait_mark("end", timeout=work_timeout(seconds=ctx.size.seconds))
    cpu_two = a.process.cpu_seconds() + b.process.cpu_seconds() - before
    results = [first.result(timeout=work_timeout()), second.result(timeout=work_timeout())]
    two = {
        "requests": sum(r["requests"] for r in results), "errors": sum(r["errors"] for r in results),
        "first_error": next((r["first_error"] for r in results if r["first_error"]), None),
        "rps": sum(r["rps"] for r in results), "p50_ms": max(r["p50_ms"] for r in results),
        "p99_ms": max(r["p99_ms"] for r in results),
    }
    return [
        _ingest_row("sqlite, 1 replica", one_sqlite.result, one_sqlite.cpu["gw"]),
        _ingest_row("jetstream R3, 1 replica", one_js.result, one_js.cpu["gw"]),
        _ingest_row("jetstream R3, 2 replicas", two, cpu_two),
    ]


async def _outage(ctx: RunContext, cluster: NatsCluster, replicas: list[procs.Gateway]) -> dict[str, Any]:
    """Open loop at a fixed rate, alternating replicas; a callback not answered 204 is retried on the other
    replica every 50 ms. The leader node is SIGKILLed after kill_after seconds."""
    import aiohttp
    from twilio.request_validator import RequestValidator

    plan = PLAN[ctx.size.name]
    emulator = ctx.ensure_emulator()
    validator = RequestValidator(emulator.auth_token)
    tag = ctx.run_tag()
    acked: dict[str, float] = {}
    first_try: dict[str, float] = {}
    non_204: dict[str, int] = {}
    killed: dict[str, Any] = {}
    loop = asyncio.get_running_loop()

    async def send(http: aiohttp.ClientSession, i: int) -> None:
        params = callback_params(emulator.account_sid, emulator.workspace_sid, tag, i, time.time_ns() // 10**6)
        headers = {"X-Twilio-Signature": validator.compute_signature(PUBLIC_URL, params)}
        sid = params["Sid"]
        first_try[sid] = loop.time()
        turn = i
        while True:
            target = replicas[turn % len(replicas)].webhook_url
            try:
                async with http.post(target, data=params, headers=headers) as reply:
                    await reply.read()
                    status = reply.status
            except (aiohttp.ClientError, asyncio.TimeoutError):
                status = 0
            if status == 204:
                acked[sid] = loop.time()
                return
            non_204[str(status)] = non_204.get(str(status), 0) + 1
            turn += 1
            await asyncio.sleep(0.05)  # a sender's retry pace

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        start = loop.time()
        tasks = []
        i = 0
        while loop.time() - start < plan["outage_seconds"]:
            if not killed and loop.time() - start >= plan["kill_after"]:
                leader = cluster.stream_leader(STREAM)
                killed.update(node=leader, at=loop.time())
                cluster.node(leader).kill()
            tasks.append(asyncio.ensure_future(send(http, i)))
            i += 1
            await asyncio.sleep(max(0.0, start + i / plan["outage_rate"] - loop.time()))
        await asyncio.wait_for(asyncio.gather(*tasks), 120)
    times = sorted(acked.values())
    after_kill = [t for t in times if t >= killed["at"]]
    gaps = [b - a for a, b in zip([killed["at"], *after_kill], after_kill)]
    stored = await _stored_sids(cluster)
    return {
        "rate": plan["outage_rate"], "callbacks": i, "acked": len(acked), "killed_leader": killed["node"],
        "longest_ingest_gap_s": max(gaps) if gaps else float("inf"),
        "longest_wait_for_204_s": max(acked[s] - first_try[s] for s in acked),
        "non_204_answers": non_204,
        "acked_missing_from_stream": len(set(acked) - stored),
        "acked_kept_fraction": len(set(acked) & stored) / max(len(acked), 1),
    }


async def _stored_sids(cluster: NatsCluster) -> set[str]:
    import nats
    import nats.errors
    import nats.js.errors

    from taskrouter_gateway.eventlog.jetstream import codec as jetstream_codec

    live = [node.url for node in cluster.nodes if node.process is not None]
    nc = await nats.connect(live)

    async def settled(call):  # right after the kill the new leader may still answer 503 for a moment
        for _ in range(200):
            try:
                return await call()
            except (nats.js.errors.ServiceUnavailableError, nats.errors.TimeoutError):
                await asyncio.sleep(0.05)
        return await call()

    try:
        jsm = nc.jsm()
        state = (await settled(lambda: jsm.stream_info(STREAM))).state
        sids = set()
        for seq in range(state.first_seq, state.last_seq + 1):
            raw = await settled(lambda seq=seq: jsm.get_msg(STREAM, seq))
            sids.add(jetstream_codec.decode(raw.data, seq, 0).sid)
        return sids
    finally:
        await nc.close()


def run(ctx: RunContext) -> dict[str, Any]:
    plan = PLAN[ctx.size.name]
    emulator = ctx.ensure_emulator()
    sqlite = ctx.ensure_gateway()
    server_core, load_core = sorted(ctx.cores.server)[0], sorted(ctx.cores.load)[0]
    cluster = NatsCluster(ctx.work_dir / "nats", size=3).start()
    replicas: list[procs.Gateway] = []
    try:
        for node in cluster.nodes:
            assert node.process is not None
            os.sched_setaffinity(node.process.pid, ctx.cores.load)
        ctx.place([sqlite.process], [emulator.process])
        replicas.append(start_replica(ctx, cluster, "a", ctx.cores.server))
        replicas.append(start_replica(ctx, cluster, "b", ctx.cores.load))
        a, b = replicas
        rows = ingest(ctx, sqlite, a, b)
        feed = {"webhook_url": PUBLIC_URL, "send_to": _address(a), "auth_token": emulator.auth_token,
                "account_sid": emulator.account_sid, "workspace_sid": emulator.workspace_sid}
        # Latency: both replicas on the server core, so the subscribers' replica does not share the load core
        # with the 100 subscribers, the poster and the three NATS nodes.
        b.process.pin(ctx.cores.server)
        cross = latency(ctx, a, plan["latency_rate"], subscribers=plan["latency_subscribers"],
                        seconds=plan["latency_seconds"], subscribe_to=b.grpc_target, feed=feed)
        b.process.pin(ctx.cores.load)
        outage = asyncio.run(_outage(ctx, cluster, replicas))
    finally:
        for replica in replicas:
            replica.process.stop()
        cluster.stop()
    one_sqlite, one_js, two_js = rows
    return {
        "placement": f"replica A and the SQLite gateway on core {server_core}; replica B, the three NATS nodes "
        f"and the load processes on core {load_core} (for the latency run, replica B on core {server_core})",
        "rows": rows,
        "jetstream_vs_sqlite": one_js["per_second"] / one_sqlite["per_second"],
        "two_vs_one": two_js["per_second"] / one_js["per_second"],
        "cross_replica_latency": cross,
        "leader_failover": outage,
    }
