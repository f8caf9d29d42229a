"""3. Fan-out: aggregate deliveries per second to N StreamEvents subscribers, against a bare grpc.aio server
streaming pre-serialized messages; and callback-to-subscriber latency at a fixed callback rate.

The gateway is fed through its webhook, so its CPU figure includes ingesting the events it fans out (one
callback per N deliveries). Every subscriber lives in one load process, the callback poster in another,
both on the load core.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from taskrouter_gateway.stream.cursor import encode_cursor
from taskrouter_gateway.stream.fanout import encode_piece
from taskrouter_gateway.translate.events import event_from_callback

from .. import agent, procs
from ..callbacks import callback_params, sid_marker
from ..context import RunContext
from ..stats import latency_summary_ms

POSTER_CONNECTIONS = 16
LATENCY_CONNECTIONS = 32
WINDOW_EVENTS = 256  # the poster stays at most this far ahead of the slowest subscriber (its buffer: 1024)
QUIET = 1.0  # seconds without a new delivery after which the latency run stops waiting for the rest


def stream_frame(account_sid: str, workspace_sid: str, run_tag: int) -> bytes:
    """A one-event StreamEventsResponse as the gateway sends it, for the same kind of callback it is fed."""
    params = callback_params(account_sid, workspace_sid, run_tag, 0, time.time_ns() // 10**6)
    event = event_from_callback(params, received_ms=time.time_ns() // 10**6)
    return encode_piece(event.SerializeToString(), encode_cursor(secrets.token_hex(8), 123_456))


def _feed(ctx: RunContext, gateway: procs.Gateway) -> dict[str, Any]:
    emulator = ctx.ensure_emulator()
    return {
        "webhook_url": gateway.webhook_url, "auth_token": emulator.auth_token,
        "account_sid": emulator.account_sid, "workspace_sid": emulator.workspace_sid,
    }


def throughput(
    ctx: RunContext, server: str, process: procs.ServerProcess, target: str, subscribers: int, tag: int,
    feed: dict[str, Any] | None, transport: str = "grpc",
) -> dict[str, Any]:
    """One throughput run; `feed` (the gateway's webhook) None means the server streams on its own (bare).
    `transport`: how the subscribers connect (jobs_stream.subscribe)."""
    ctx.reset_shared()
    subs, poster = ctx.agents
    subs.start(
        "bench.jobs_stream:subscribe", target=target, workspace_sid=ctx.ensure_emulator().workspace_sid,
        subscribers=subscribers, marker=sid_marker(tag), warmup=ctx.size.warmup, seconds=ctx.size.seconds,
        transport=transport,
    )
    if feed is not None:
        poster.start(
            "bench.jobs_http:post_callbacks", run_tag=tag, subscribers=subscribers, mode="windowed",
            connections=POSTER_CONNECTIONS, window_events=WINDOW_EVENTS, **feed,
        )
    wait = agent.work_timeout(subscribers=subscribers)
    subs.wait_mark("live", timeout=wait)
    subs.wait_mark("start", timeout=wait + ctx.size.warmup)
    before = process.cpu_seconds()
    subs.wait_mark("end", timeout=wait + ctx.size.seconds)
    cpu = process.cpu_seconds() - before
    ctx.shared[agent.STOP_POSTER] = 1
    posted = poster.result(timeout=wait) if feed is not None else None
    ctx.shared[agent.STOP_SUBSCRIBERS] = 1
    received = subs.result(timeout=wait)
    delivered = received["delivered"]
    row: dict[str, Any] = {
        "server": server,
        "subscribers": subscribers,
        "delivered": int(delivered),
        "messages": int(received["messages"]),
        "events_per_message": delivered / received["messages"] if received["messages"] else 0.0,
        "seconds": received["seconds"],
        "deliveries_per_second": received["per_second"],
        "server_cpu_s": cpu,
        "deliveries_per_cpu_second": delivered / cpu if cpu > 0 else 0.0,
        "server_busy_pct": 100 * cpu / received["seconds"],
        "stream_endings": received["endings"],
    }
    if posted is not None:
        row["callbacks_posted"] = posted["posted"]
        row["callback_errors"] = posted["errors"]
        row["first_callback_error"] = posted["first_error"]
    return row


def _drain(ctx: RunContext, expected: int) -> None:
    """Waits until every delivery is recorded, or until none has arrived for QUIET seconds (streams that
    overflowed or ended never get theirs; those are reported as missing)."""
    last, last_change = -1, time.monotonic()
    while ctx.shared[agent.RECORDED] < expected:
        now, seen = time.monotonic(), ctx.shared[agent.RECORDED]
        if seen != last:
            last, last_change = seen, now
        elif now - last_change > QUIET:
            return
        time.sleep(0.02)


def latency(
    ctx: RunContext, gateway: procs.Gateway, rate: float, *, subscribers: int | None = None,
    seconds: float | None = None, subscribe_to: str = "", feed: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Callbacks at a fixed rate, each stamped (time.time_ns) as it is written; each subscriber stamps
    its arrival. Same machine, same wall clock. `subscribe_to` and `feed` put the subscribers and the
    callbacks on different replicas (scale-out); `gateway`'s CPU is the one reported."""
    size = ctx.size
    count = int(rate * (seconds or size.latency_seconds))
    n = subscribers or size.latency_subscribers
    ctx.reset_shared()
    tag = ctx.run_tag()
    subs, poster = ctx.agents
    subs.start(
        "bench.jobs_stream:subscribe", target=subscribe_to or gateway.grpc_target,
        workspace_sid=ctx.ensure_emulator().workspace_sid, subscribers=n, marker=sid_marker(tag), warmup=0.0,
        seconds=0.0, record_until=count,
    )
    poster.start(
        "bench.jobs_http:post_callbacks", run_tag=tag, subscribers=n, mode="rate", rate=rate,
        pool=count, connections=LATENCY_CONNECTIONS, **(feed or _feed(ctx, gateway)),
    )
    subs.wait_mark("live", timeout=agent.work_timeout(subscribers=n))
    poster.wait_mark("live", timeout=agent.work_timeout(events=count))  # it presigns `count` callbacks first
    before = gateway.process.cpu_seconds()
    started = time.perf_counter()
    poster.wait_mark("sent", timeout=(seconds or size.latency_seconds) * 3 + 30)
    send_seconds = time.perf_counter() - started
    _drain(ctx, count * n)
    cpu = gateway.process.cpu_seconds() - before
    ctx.shared[agent.STOP_POSTER] = 1
    posted = poster.result(timeout=agent.work_timeout(events=count))
    ctx.shared[agent.STOP_SUBSCRIBERS] = 1
    received = subs.result(timeout=agent.work_timeout(subscribers=n, events=count * n))
    sent_ns: list[int] = posted["sent_ns"]
    latencies = [
        arrival - sent_ns[i]
        for per_subscriber in received["received_ns"]
        for i, arrival in enumerate(per_subscriber)
        if arrival and sent_ns[i]
    ]
    expected = count * n
    return {
        "rate": rate,
        "achieved_rate": count / send_seconds,
        "deliveries_per_second_asked": rate * n,
        "subscribers": n,
        "callbacks": count,
        "deliveries": len(latencies),
        "missing_deliveries": expected - len(latencies),
        **latency_summary_ms(latencies),
        "gateway_cpu_s": cpu,
        "gateway_busy_pct": 100 * cpu / send_seconds,
        "stream_endings": received["endings"],
        "callback_errors": posted["errors"],
        "first_callback_error": posted["first_error"],
        "clock": "time.time_ns() in both load processes (same host, same wall clock)",
    }


def run(ctx: RunContext) -> dict[str, Any]:
    """Per subscriber count: the gateway, then the bare server sending one event per message (the ceiling the
    issue names), then, if the gateway batched, the bare server sending messages of the gateway's mean batch
    (a stronger ceiling: batching is not the gateway's to claim). The ratio is taken against the best one."""
    emulator = ctx.ensure_emulator()
    gateway = ctx.ensure_gateway()
    ctx.place([gateway.process], [emulator.process])
    tag = ctx.run_tag()
    payload = ctx.work_dir / "frame.bin"
    payload.write_bytes(stream_frame(emulator.account_sid, emulator.workspace_sid, tag))
    rows: list[dict[str, Any]] = []
    ratios = []
    for subscribers in ctx.size.fanout_subscribers:
        gw = throughput(
            ctx, "gateway", gateway.process, gateway.grpc_target, subscribers, ctx.run_tag(), _feed(ctx, gateway)
        )
        rows.append(gw)
        ceilings = []
        for batch in sorted({1, max(1, round(gw["events_per_message"]))}):
            bare, bare_port = procs.start_bare(
                "grpc-stream", ctx.log_dir, ctx.cores.server, payload, ["--batch", str(batch)]
            )
            try:
                name = "bare_grpc_stream" if batch == 1 else f"bare_grpc_stream_batch{batch}"
                ceilings.append(throughput(ctx, name, bare, f"127.0.0.1:{bare_port}", subscribers, tag, None))
            finally:
                bare.stop()
        rows.extend(ceilings)
        best = max(ceilings, key=lambda r: r["deliveries_per_cpu_second"])
        ratios.append({
            "subscribers": subscribers,
            "ceiling": best["server"],
            "per_cpu_second_ratio": gw["deliveries_per_cpu_second"] / best["deliveries_per_cpu_second"],
            "rate_ratio": gw["deliveries_per_second"] / best["deliveries_per_second"],
        })
    server, load_core = sorted(ctx.cores.server)[0], sorted(ctx.cores.load)[0]
    return {
        "placement": f"server core {server}; subscribers and callback poster (two processes) core {load_core}",
        "frame_bytes": payload.stat().st_size,
        "rows": rows,
        "ratios": ratios,
        "latency": [latency(ctx, gateway, rate) for rate in ctx.size.latency_rates],
    }
