"""4. Memory: the gateway's RSS with N idle StreamEvents subscribers, and after listing every worker of a
workspace of M workers through it (ListWorkers, page by page). A fresh gateway process, so earlier sections'
load does not count."""

from __future__ import annotations

from typing import Any

from .. import agent
from ..callbacks import sid_marker
from ..context import RunContext
from .fanout import POSTER_CONNECTIONS

MB = 1_000_000  # decimal megabytes, as the targets are stated


def _idle_subscribers_rss(ctx: RunContext, gateway: Any, subscribers: int) -> int:
    """Opens the streams, waits until each has received one event (so each is registered and live), reads
    the gateway's RSS, closes them."""
    emulator = ctx.ensure_emulator()
    ctx.reset_shared()
    tag = ctx.run_tag()
    subs, poster = ctx.agents
    subs.start(
        "bench.jobs_stream:subscribe", target=gateway.grpc_target, workspace_sid=emulator.workspace_sid,
        subscribers=subscribers, marker=sid_marker(tag), warmup=0.0, seconds=0.0,
    )
    poster.start(
        "bench.jobs_http:post_callbacks", webhook_url=gateway.webhook_url, auth_token=emulator.auth_token,
        account_sid=emulator.account_sid, workspace_sid=emulator.workspace_sid, run_tag=tag,
        subscribers=subscribers, mode="primer", connections=POSTER_CONNECTIONS,
    )
    wait = agent.work_timeout(subscribers=subscribers)
    subs.wait_mark("live", timeout=wait)
    poster.wait_mark("live", timeout=wait)
    rss = gateway.process.rss_bytes()
    ctx.shared[agent.STOP_POSTER] = 1
    poster.result(timeout=wait)
    ctx.shared[agent.STOP_SUBSCRIBERS] = 1
    subs.result(timeout=wait)
    return rss


def run(ctx: RunContext) -> dict[str, Any]:
    size = ctx.size
    emulator = ctx.ensure_emulator()
    ctx.ensure_workers(size.memory_workers)
    gateway = ctx.start_gateway("memory")
    try:
        ctx.place([gateway.process], [emulator.process])
        idle_rss = gateway.process.rss_bytes()
        subscribers_rss = _idle_subscribers_rss(ctx, gateway, size.memory_subscribers)
        after_subscribers_rss = gateway.process.rss_bytes()
        load = ctx.agents[0]
        load.start(
            "bench.jobs_setup:list_all_workers", target=gateway.grpc_target, workspace_sid=emulator.workspace_sid,
            page_size=size.list_page_size,
        )
        peak = gateway.process.rss_bytes()
        while not load.has_message(0.005):
            peak = max(peak, gateway.process.rss_bytes())
        listed = load.result(timeout=agent.work_timeout(events=size.memory_workers))
        listed_rss = gateway.process.rss_bytes()
    finally:
        gateway.process.stop()
    return {
        "gateway_rss_idle_mb": idle_rss / MB,
        "subscribers": size.memory_subscribers,
        "gateway_rss_with_subscribers_mb": subscribers_rss / MB,
        "gateway_rss_after_subscribers_closed_mb": after_subscribers_rss / MB,
        "workers": listed["workers"],
        "list_pages": listed["pages"],
        "list_page_size": size.list_page_size,
        "list_seconds": listed["seconds"],
        "gateway_rss_after_listing_mb": listed_rss / MB,
        "gateway_rss_peak_while_listing_mb": max(peak, listed_rss) / MB,
        "emulator_rss_mb": emulator.process.rss_bytes() / MB,
    }
