"""1. Unary: WorkerService.GetWorker through the gateway, against the gRPC ceiling (a bare grpc.aio server
returning a prebuilt Worker), the REST ceiling (aiohttp GET from the emulator) and Twilio's own library."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import procs
from ..context import Measured, RunContext
from ..jobs_unary import basic_auth
from ..stats import median_rows


def _row(client: str, concurrency: int, measured: Measured, server: str, placement: str) -> dict[str, Any]:
    result = measured.result
    cpu = measured.cpu[server]
    requests = max(int(result["requests"]), 1)
    row = {
        "client": client,
        "concurrency": concurrency,
        "requests": int(result["requests"]),
        "errors": int(result["errors"]),
        "first_error": result["first_error"],
        "seconds": result["seconds"],
        "rps": result["rps"],
        "p50_ms": result["p50_ms"],
        "p99_ms": result["p99_ms"],
        "server": server,
        "server_cpu_s": cpu,
        "server_cpu_us_per_request": cpu / requests * 1e6,
        "server_busy_pct": 100 * cpu / result["seconds"],
        "placement": placement,
    }
    for other, seconds in measured.cpu.items():
        if other != server:
            row[f"{other}_cpu_us_per_request"] = seconds / requests * 1e6
    return row


def worker_payload(ctx: RunContext, gateway: procs.Gateway, sid: str) -> Path:
    """One Worker as the gateway answers it, serialized, for the bare servers to send back."""
    worker = ctx.agents[0].run("bench.jobs_setup:get_worker_bytes", target=gateway.grpc_target,
                               workspace_sid=ctx.ensure_emulator().workspace_sid, sid=sid)
    payload = ctx.work_dir / "worker.bin"
    payload.write_bytes(worker)
    return payload


def run(ctx: RunContext) -> dict[str, Any]:
    size = ctx.size
    emulator = ctx.ensure_emulator()
    gateway = ctx.ensure_gateway()
    sids = ctx.ensure_workers(size.unary_workers)
    payload = worker_payload(ctx, gateway, sids[0])
    bare, bare_port = procs.start_bare("grpc-unary", ctx.log_dir, ctx.cores.server, payload)
    proxy, proxy_port = procs.start_bare(
        "grpc-proxy", ctx.log_dir, ctx.cores.server, payload,
        ["--upstream", emulator.base_url, "--authorization", basic_auth(emulator.account_sid, emulator.auth_token)],
    )
    window = {"warmup": size.warmup, "seconds": size.seconds}
    rest = {
        "base_url": emulator.base_url, "account_sid": emulator.account_sid, "auth_token": emulator.auth_token,
        "workspace_sid": emulator.workspace_sid, "sids": sids,
    }
    server, load_core = sorted(ctx.cores.server)[0], sorted(ctx.cores.load)[0]
    runs: list[dict[str, Any]] = []
    try:
        # Repeated, interleaved: on a shared machine one window can be off by 10%; the median is the figure.
        for concurrency in [c for _ in range(size.repeats) for c in size.unary_concurrency]:
            ctx.place([gateway.process], [emulator.process])
            measured = ctx.measure(
                {"gateway": gateway.process, "emulator": emulator.process}, "bench.jobs_unary:grpc_get_worker",
                target=gateway.grpc_target, workspace_sid=emulator.workspace_sid, sids=sids,
                concurrency=concurrency, **window,
            )
            runs.append(_row("gateway (gRPC GetWorker)", concurrency, measured, "gateway",
                             f"gateway core {server}; emulator and load share core {load_core}"))
            measured = ctx.measure(
                {"bare_grpc": bare}, "bench.jobs_unary:grpc_get_worker", target=f"127.0.0.1:{bare_port}",
                workspace_sid=emulator.workspace_sid, sids=sids, concurrency=concurrency, **window,
            )
            runs.append(_row("bare grpc.aio (prebuilt Worker)", concurrency, measured, "bare_grpc",
                             f"bare server core {server}; load core {load_core}"))
            measured = ctx.measure(
                {"bare_proxy": proxy}, "bench.jobs_unary:grpc_get_worker", target=f"127.0.0.1:{proxy_port}",
                workspace_sid=emulator.workspace_sid, sids=sids, concurrency=concurrency, **window,
            )
            runs.append(_row("bare proxy (grpc.aio + aiohttp GET)", concurrency, measured, "bare_proxy",
                             f"proxy core {server}; emulator and load share core {load_core}"))
            ctx.place([emulator.process], [gateway.process])
            measured = ctx.measure(
                {"emulator": emulator.process}, "bench.jobs_unary:rest_get_worker", concurrency=concurrency,
                **rest, **window,
            )
            runs.append(_row("direct REST (aiohttp GET)", concurrency, measured, "emulator",
                             f"emulator core {server}; load core {load_core}"))
            measured = ctx.measure(
                {"emulator": emulator.process}, "bench.jobs_unary:twilio_get_worker", concurrency=concurrency,
                **rest, **window,
            )
            runs.append(_row("twilio library (fetch_async)", concurrency, measured, "emulator",
                             f"emulator core {server}; load core {load_core}"))
    finally:
        bare.stop()
        proxy.stop()
        ctx.place([], [emulator.process])

    rows = median_rows(runs, ("client", "concurrency"))

    def find(prefix: str, concurrency: int) -> dict[str, Any]:
        return next(r for r in rows if r["client"].startswith(prefix) and r["concurrency"] == concurrency)

    derived = []
    for concurrency in size.unary_concurrency:
        gw, bare_row = find("gateway", concurrency), find("bare grpc", concurrency)
        direct, floor = find("direct", concurrency), find("bare proxy", concurrency)
        bare_cpu = bare_row["server_cpu_us_per_request"]
        derived.append(
            {
                "concurrency": concurrency,
                "cpu_ratio_vs_bare": gw["server_cpu_us_per_request"] / bare_cpu,
                "proxy_floor_cpu_ratio_vs_bare": floor["server_cpu_us_per_request"] / bare_cpu,
                "p50_added_over_rest_ms": gw["p50_ms"] - direct["p50_ms"],
                "rps_ratio_vs_bare": gw["rps"] / bare_row["rps"],
            }
        )
    return {"workers_fetched": len(sids), "repeats": size.repeats, "rows": rows, "derived": derived}
