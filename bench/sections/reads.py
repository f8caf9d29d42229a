"""Reads: GetWorker answered from the read cache against the bare grpc.aio server returning a prebuilt Worker
(the ceiling), and fifty callers polling fifty queues' real-time statistics every second, counted at the
emulator (upstream bulk requests a second, and any 429 its 5-a-second limit gave)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from .. import procs
from ..context import RunContext
from ..jobs_unary import basic_auth
from ..stats import median_rows
from .unary import _row, worker_payload

POLLERS = 50
QUEUES = 50


async def _limits(emulator: procs.Emulator) -> dict[str, int]:
    headers = {"Authorization": basic_auth(emulator.account_sid, emulator.auth_token)}
    async with aiohttp.ClientSession(headers=headers) as session, \
            session.get(f"{emulator.base_url}/admin/limits") as response:
        body = await response.json()
        if response.status != 200:
            raise RuntimeError(f"GET /admin/limits: HTTP {response.status} {body}")
        return body["bulk_realtime_statistics"]


def _limits_now(emulator: procs.Emulator) -> dict[str, int]:
    return asyncio.run(_limits(emulator))


def run(ctx: RunContext) -> dict[str, Any]:
    size = ctx.size
    emulator = ctx.ensure_emulator()
    gateway = ctx.ensure_gateway()
    sids = ctx.ensure_workers(size.unary_workers)
    load = ctx.agents[0]
    bare, bare_port = procs.start_bare("grpc-unary", ctx.log_dir, ctx.cores.server,
                                       worker_payload(ctx, gateway, sids[0]))
    window = {"warmup": size.warmup, "seconds": size.seconds}
    server, load_core = sorted(ctx.cores.server)[0], sorted(ctx.cores.load)[0]
    runs: list[dict[str, Any]] = []
    try:
        for concurrency in [c for _ in range(size.repeats) for c in size.unary_concurrency]:
            ctx.place([gateway.process], [emulator.process])
            measured = ctx.measure(
                {"gateway": gateway.process, "emulator": emulator.process}, "bench.jobs_unary:grpc_get_worker",
                target=gateway.grpc_target, workspace_sid=emulator.workspace_sid, sids=sids,
                concurrency=concurrency, max_staleness_s=3600, **window,
            )
            runs.append(_row("gateway, cache hit (max_staleness 1 h)", concurrency, measured, "gateway",
                             f"gateway core {server}; emulator and load share core {load_core}"))
            measured = ctx.measure(
                {"bare_grpc": bare}, "bench.jobs_unary:grpc_get_worker", target=f"127.0.0.1:{bare_port}",
                workspace_sid=emulator.workspace_sid, sids=sids, concurrency=concurrency, **window,
            )
            runs.append(_row("bare grpc.aio (prebuilt Worker)", concurrency, measured, "bare_grpc",
                             f"bare server core {server}; load core {load_core}"))
    finally:
        bare.stop()
    rows = median_rows(runs, ("client", "concurrency"))

    def find(prefix: str, concurrency: int) -> dict[str, Any]:
        return next(r for r in rows if r["client"].startswith(prefix) and r["concurrency"] == concurrency)

    derived = []
    for concurrency in size.unary_concurrency:
        hit, bare_row = find("gateway", concurrency), find("bare grpc", concurrency)
        derived.append({
            "concurrency": concurrency,
            "hit_cpu_ratio_vs_bare": hit["server_cpu_us_per_request"] / bare_row["server_cpu_us_per_request"],
            "hit_p50_added_over_bare_ms": hit["p50_ms"] - bare_row["p50_ms"],
        })

    # Polling: fifty callers, fifty queues, every second, at the default staleness of real-time statistics.
    queues = load.run("bench.jobs_reads:create_queues", base_url=emulator.base_url, account_sid=emulator.account_sid,
                      auth_token=emulator.auth_token, workspace_sid=emulator.workspace_sid, count=QUEUES)["sids"]
    ctx.place([gateway.process], [emulator.process])
    before = _limits_now(emulator)
    poll_seconds = max(size.seconds, 2.0)  # at least two polling periods
    measured = ctx.measure(
        {"gateway": gateway.process}, "bench.jobs_reads:poll_queue_statistics", target=gateway.grpc_target,
        workspace_sid=emulator.workspace_sid, queue_sids=queues, callers=POLLERS, period_s=1.0,
        warmup=size.warmup, seconds=poll_seconds,
    )
    after = _limits_now(emulator)
    result = measured.result
    upstream = after["admitted"] - before["admitted"]
    polling = {
        "callers": POLLERS, "queues": QUEUES, "period_s": 1.0,
        "served": result["served"], "errors": result["errors"], "first_error": result["first_error"],
        "seconds": result["seconds"],
        "upstream_bulk_requests": upstream,
        # Counted across warm-up and window alike (the emulator does not know the window): an upper bound.
        "upstream_bulk_per_second": upstream / (result["seconds"] + size.warmup),
        "refused_429": after["refused"] - before["refused"],
        "gateway_cpu_us_per_served": measured.cpu["gateway"] / max(result["served"], 1) * 1e6,
        "upstream_without_gateway_per_second": POLLERS / 1.0,
    }
    return {"repeats": size.repeats, "rows": rows, "derived": derived, "polling": polling}
