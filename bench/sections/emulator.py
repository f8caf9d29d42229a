"""The emulator's own figures (its issue's targets): worker fetches per second with the emulator alone on
one core, and its RSS with the workspace full of workers (15,000 is TaskRouter's per-workspace limit)."""

from __future__ import annotations

from typing import Any

from ..context import RunContext
from ..jobs_unary import basic_auth

MB = 1_000_000  # decimal megabytes, as the targets are stated
DISTINCT_FETCHED = 2000  # fetches cycle over this many distinct workers


def run(ctx: RunContext) -> dict[str, Any]:
    size = ctx.size
    emulator = ctx.ensure_emulator()
    rss_before = emulator.process.rss_bytes()
    workers_before = len(ctx.worker_sids)
    sids = ctx.ensure_workers(size.memory_workers)
    others = [ctx.gateway.process] if ctx.gateway else []
    ctx.place([emulator.process], others)
    host, port = emulator.host_port
    measured = ctx.measure(
        {"emulator": emulator.process}, "bench.jobs_http:get_requests_loop", host=host, port=port,
        paths=[f"/v1/Workspaces/{emulator.workspace_sid}/Workers/{sid}" for sid in sids[:DISTINCT_FETCHED]],
        authorization=basic_auth(emulator.account_sid, emulator.auth_token),
        concurrency=size.emulator_concurrency, warmup=size.warmup, seconds=size.seconds,
    )
    ctx.place([], [emulator.process])
    result = measured.result
    cpu = measured.cpu["emulator"]
    server, load_core = sorted(ctx.cores.server)[0], sorted(ctx.cores.load)[0]
    return {
        "placement": f"emulator alone on core {server}; raw HTTP client on core {load_core}",
        "concurrency": size.emulator_concurrency,
        "workers": len(sids),
        "fetches": int(result["requests"]),
        "errors": int(result["errors"]),
        "first_error": result["first_error"],
        "fetches_per_second": result["rps"],
        "p50_ms": result["p50_ms"],
        "p99_ms": result["p99_ms"],
        "emulator_busy_pct": 100 * cpu / result["seconds"],
        "fetches_per_cpu_second": result["requests"] / cpu if cpu > 0 else 0.0,
        "rss_mb_with_workers": emulator.process.rss_bytes() / MB,
        "rss_mb_before_creating": rss_before / MB,
        "workers_before_creating": workers_before,
        "create_seconds_total": ctx.worker_create_seconds,
    }
