"""2. Ingest: signed callbacks per second the gateway's webhook accepts (204 after the durable append),
against a bare aiohttp handler that only answers 204. The same presigned requests go to both."""

from __future__ import annotations

from typing import Any

from .. import procs
from ..context import Measured, RunContext


def _row(server: str, measured: Measured, placement: str) -> dict[str, Any]:
    result = measured.result
    cpu = measured.cpu[server]
    accepted = max(int(result["requests"]), 1)
    return {
        "server": server,
        "accepted": int(result["requests"]),
        "errors": int(result["errors"]),
        "first_error": result["first_error"],
        "seconds": result["seconds"],
        "per_second": result["rps"],
        "p50_ms": result["p50_ms"],
        "p99_ms": result["p99_ms"],
        "server_cpu_s": cpu,
        "server_cpu_us_per_callback": cpu / accepted * 1e6,
        "server_busy_pct": 100 * cpu / result["seconds"],
        "pool_exhausted": bool(result["pool_exhausted"]),
        "presign_seconds": result["presign_seconds"],
        "placement": placement,
    }


def run(ctx: RunContext) -> dict[str, Any]:
    size = ctx.size
    emulator = ctx.ensure_emulator()
    gateway = ctx.ensure_gateway()
    ctx.place([gateway.process], [emulator.process])
    bare, bare_port = procs.start_bare("http-204", ctx.log_dir, ctx.cores.server)
    server, load_core = sorted(ctx.cores.server)[0], sorted(ctx.cores.load)[0]
    common = {
        "auth_token": emulator.auth_token, "account_sid": emulator.account_sid,
        "workspace_sid": emulator.workspace_sid, "pool": size.ingest_pool, "concurrency": size.ingest_concurrency,
        "warmup": size.warmup, "seconds": size.seconds,
    }
    path = gateway.webhook_url.split("/", 3)[3]
    try:
        gw = ctx.measure(
            {"gateway": gateway.process}, "bench.jobs_http:signed_callbacks_loop", webhook_url=gateway.webhook_url,
            run_tag=ctx.run_tag(), **common,
        )
        ceiling = ctx.measure(
            {"bare_http": bare}, "bench.jobs_http:signed_callbacks_loop",
            webhook_url=f"http://127.0.0.1:{bare_port}/{path}", run_tag=ctx.run_tag(), cycle=True, **common,
        )
    finally:
        bare.stop()
    rows = [
        _row("gateway", gw, f"gateway core {server}; load core {load_core} (event log: synchronous=FULL)"),
        _row("bare_http", ceiling, f"bare aiohttp core {server}; load core {load_core}"),
    ]
    return {
        "concurrency": size.ingest_concurrency,
        "load_generator": "raw HTTP/1.1 keep-alive client (bench/rawhttp.py), requests presigned with "
        "twilio.request_validator.RequestValidator",
        "rows": rows,
        "ratio_vs_bare": rows[0]["per_second"] / rows[1]["per_second"],
    }
