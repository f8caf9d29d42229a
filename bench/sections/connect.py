"""Connect: the same RPCs over the Connect port (connect/) against the gRPC port of the same gateway process.
Unary: WorkerService.GetWorker as Connect JSON (curl, browsers) and Connect binary, gateway CPU per request vs
gRPC's. Streams: StreamEvents deliveries per CPU-second to Connect subscribers (JSON and binary, one HTTP/1.1
connection each, as browsers open them) vs gRPC subscribers, fed through the webhook as in the fan-out section."""

from __future__ import annotations

import socket
from typing import Any

from ..context import RunContext
from ..stats import median_rows
from .fanout import _feed, throughput
from .unary import _row

VARIANTS = (("gRPC", None), ("Connect JSON", "json"), ("Connect binary", "proto"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(ctx: RunContext) -> dict[str, Any]:
    size = ctx.size
    emulator = ctx.ensure_emulator()
    port = _free_port()
    gateway = ctx.start_gateway("connect", extra_args=["--http-port", str(port)])
    url = f"http://127.0.0.1:{port}"
    sids = ctx.ensure_workers(size.unary_workers)
    window = {"warmup": size.warmup, "seconds": size.seconds}
    server, load_core = sorted(ctx.cores.server)[0], sorted(ctx.cores.load)[0]
    placement = f"gateway core {server}; emulator and load share core {load_core}"
    runs: list[dict[str, Any]] = []
    try:
        for concurrency in [c for _ in range(size.repeats) for c in size.unary_concurrency]:
            for name, codec in VARIANTS:
                ctx.place([gateway.process], [emulator.process])
                if codec is None:
                    measured = ctx.measure(
                        {"gateway": gateway.process}, "bench.jobs_unary:grpc_get_worker", target=gateway.grpc_target,
                        workspace_sid=emulator.workspace_sid, sids=sids, concurrency=concurrency, **window)
                else:
                    measured = ctx.measure(
                        {"gateway": gateway.process}, "bench.jobs_unary:connect_get_worker", url=url,
                        workspace_sid=emulator.workspace_sid, sids=sids, concurrency=concurrency, codec=codec,
                        **window)
                runs.append(_row(f"{name} GetWorker", concurrency, measured, "gateway", placement))
        rows = median_rows(runs, ("client", "concurrency"))

        def cpu(name: str, concurrency: int) -> float:
            return next(r["server_cpu_us_per_request"] for r in rows
                        if r["client"] == f"{name} GetWorker" and r["concurrency"] == concurrency)

        derived = [{
            "concurrency": concurrency,
            "json_cpu_ratio_vs_grpc": cpu("Connect JSON", concurrency) / cpu("gRPC", concurrency),
            "proto_cpu_ratio_vs_grpc": cpu("Connect binary", concurrency) / cpu("gRPC", concurrency),
        } for concurrency in size.unary_concurrency]

        subscribers = size.fanout_target_subscribers
        feed = _feed(ctx, gateway)
        streams = []
        for name, transport, target in (("gRPC", "grpc", gateway.grpc_target),
                                        ("Connect JSON", "connect+json", url),
                                        ("Connect binary", "connect+proto", url)):
            ctx.place([gateway.process], [emulator.process])
            row = throughput(ctx, "gateway", gateway.process, target, subscribers, ctx.run_tag(), feed,
                             transport=transport)
            row["transport"] = name
            streams.append(row)
        grpc_rate = streams[0]["deliveries_per_cpu_second"]
        stream_ratios = {row["transport"]: row["deliveries_per_cpu_second"] / grpc_rate if grpc_rate else 0.0
                         for row in streams[1:]}
    finally:
        gateway.process.stop()
    return {"repeats": size.repeats, "rows": rows, "derived": derived, "streams": streams,
            "stream_subscribers": subscribers, "stream_ratio_vs_grpc": stream_ratios}
