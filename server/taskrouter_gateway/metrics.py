"""Every Prometheus metric the gateway exports, in one registry per gateway, served on the admin port.

Labels stay bounded: RPC method names and status codes, HTTP methods and statuses, fixed outcome and reason
words. Never a sid, a token or a path. Counts the gateway already keeps (webhook outcomes, subscribers, the
event log) are read at scrape time by a collector, so they cost nothing per event.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .eventlog.log import EventLog, EventLogError
from .reads.cache import AGE_BUCKETS
from .upstream.response import RateLimit

# The *_created series would double every counter's lines for a timestamp nobody alerts on.
disable_created_metrics()

NS = "taskrouter_gateway"
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_APPEND_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
# Webhook refusals by HTTP status: the outcome label they count under.
WEBHOOK_REFUSALS = {400: "bad_request", 403: "bad_signature", 413: "too_large", 503: "log_unavailable"}
# How a StreamEvents stream ended, by gRPC code.
STREAM_CLOSE_REASONS = {
    "OK": "completed",
    "CANCELLED": "client_cancelled",
    "RESOURCE_EXHAUSTED": "too_slow",
    "UNAVAILABLE": "unavailable",
    "OUT_OF_RANGE": "cursor_expired",
    "INVALID_ARGUMENT": "invalid_argument",
    "UNAUTHENTICATED": "unauthenticated",
    "PERMISSION_DENIED": "permission_denied",
}


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.rpcs = Counter(f"{NS}_rpcs", "API RPCs finished, by method and gRPC code", ["method", "code"], registry=r)
        self.rpc_seconds = Histogram(
            f"{NS}_rpc_duration_seconds", "API RPC latency (unary)", ["method"], buckets=_LATENCY_BUCKETS, registry=r
        )
        self.upstream_requests = Counter(
            f"{NS}_upstream_requests",
            "HTTP requests to TaskRouter, each attempt, by HTTP status (or timeout, connection_error, cancelled)",
            ["method", "status"],
            registry=r,
        )
        self.upstream_seconds = Histogram(
            f"{NS}_upstream_request_duration_seconds", "upstream attempt latency", ["method"],
            buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.upstream_retries = Counter(f"{NS}_upstream_retries", "upstream attempts that will be retried",
                                        ["method"], registry=r)
        self.upstream_throttled = Counter(f"{NS}_upstream_rate_limited", "upstream 429 replies", registry=r)
        self.rate_limit_remaining = Gauge(
            f"{NS}_upstream_rate_limit_remaining", "X-Rate-Limit-Remaining on the latest reply that had it", registry=r
        )
        self.rate_limit_limit = Gauge(
            f"{NS}_upstream_rate_limit_limit", "X-Rate-Limit-Limit on the latest reply that had it", registry=r
        )
        self.append_seconds = Histogram(
            f"{NS}_event_append_duration_seconds", "time to append events durably (webhook and backfill)",
            buckets=_APPEND_BUCKETS, registry=r,
        )
        self.append_failures = Counter(f"{NS}_event_append_failures", "appends that were not committed", registry=r)
        self.streams_closed = Counter(f"{NS}_streams_closed", "StreamEvents streams ended, by reason", ["reason"],
                                      registry=r)
        self.live = LiveCollector()
        r.register(self.live)
        self._rpc_children: dict[tuple[str, str], Any] = {}
        self._rpc_latency: dict[str, Any] = {}
        self._upstream_children: dict[tuple[str, str], Any] = {}
        self._upstream_latency: dict[str, Any] = {}
        self.last_append_ok = True

    # -- hot paths: label children are looked up once and kept ------------------------------------------

    def rpc(self, method: str, code: str, seconds: float | None) -> None:
        key = (method, code)
        child = self._rpc_children.get(key)
        if child is None:
            child = self._rpc_children[key] = self.rpcs.labels(method, code)
        child.inc()
        if seconds is None:
            return
        latency = self._rpc_latency.get(method)
        if latency is None:
            latency = self._rpc_latency[method] = self.rpc_seconds.labels(method)
        latency.observe(seconds)

    def upstream_attempt(
        self,
        method: str,
        outcome: str,
        status: int | None,
        latency: float | None,
        rate_limit: RateLimit | None,
        retry_in: float | None,
    ) -> None:
        """upstream.UpstreamClient's attempt observer (it knows nothing of Prometheus)."""
        key = (method, str(status) if status is not None else outcome)
        child = self._upstream_children.get(key)
        if child is None:
            child = self._upstream_children[key] = self.upstream_requests.labels(*key)
        child.inc()
        if latency is not None:
            hist = self._upstream_latency.get(method)
            if hist is None:
                hist = self._upstream_latency[method] = self.upstream_seconds.labels(method)
            hist.observe(latency)
        if retry_in is not None:
            self.upstream_retries.labels(method).inc()
        if status == 429:
            self.upstream_throttled.inc()
        if rate_limit is not None:
            if rate_limit.remaining is not None:
                self.rate_limit_remaining.set(rate_limit.remaining)
            if rate_limit.limit is not None:
                self.rate_limit_limit.set(rate_limit.limit)

    def appended(self, seconds: float, ok: bool) -> None:
        """events.ingest.Ingestor's observer."""
        self.last_append_ok = ok
        if ok:
            self.append_seconds.observe(seconds)
        else:
            self.append_failures.inc()

    def stream_closed(self, code: str) -> None:
        self.streams_closed.labels(STREAM_CLOSE_REASONS.get(code, "other")).inc()

    # -- scrape ------------------------------------------------------------------------------------------

    async def exposition(self) -> bytes:
        await self.live.refresh()
        return generate_latest(self.registry)


class LiveCollector(Collector):
    """Reads what the running gateway already counts, at scrape time. Each source is a callable set by the app."""

    def __init__(self) -> None:
        self.webhook_counts: Callable[[], tuple[int, int, dict[int, int], int]] | None = None
        self.subscribers: Callable[[], int] | None = None
        self.lags: Callable[[], list[int]] | None = None
        self.event_log: EventLog | None = None
        self.reads: Any = None
        self._log_stats: tuple[int, float | None, int | None] = (0, None, None)

    def watch(self, event_log: EventLog, webhook: Any, fanout: Any, reads: Any = None) -> None:
        """Read these at scrape time: the log's size and age, the webhook's outcome counts (None: no webhook),
        the fan-out's subscribers and their lag, the read cache's counts (None: no read front)."""
        self.event_log = event_log
        self.reads = reads
        if webhook is not None:
            self.webhook_counts = lambda: (webhook.accepted, webhook.duplicates, dict(webhook.refused),
                                           webhook.expired)
        self.subscribers = lambda: fanout.counters.subscribers
        self.lags = fanout.lags

    async def refresh(self) -> None:
        """The event log's figures need awaiting, so they are read just before each scrape."""
        log = self.event_log
        if log is None:
            return
        try:
            first, last = await log.first_seq(), await log.last_seq()
            oldest = await log.read_after(first - 1, limit=1) if last >= first else []
        except EventLogError:
            return  # keep the last figures; readiness reports an unusable log
        age = time.time() - oldest[0].received_ms / 1000 if oldest else None
        path = getattr(log, "path", None)
        size = None
        if path is not None:
            size = sum(os.path.getsize(p) for p in (str(path), f"{path}-wal") if os.path.exists(p))
        self._log_stats = (last - first + 1 if last >= first else 0, age, size)

    def collect(self) -> Iterator[Metric]:
        if self.reads is not None:
            yield from _read_metrics(self.reads)
        if self.webhook_counts is not None:
            accepted, duplicates, refused, expired = self.webhook_counts()
            family = CounterMetricFamily(f"{NS}_webhook_callbacks", "TaskRouter callbacks by outcome",
                                         labels=["outcome"])
            family.add_metric(["accepted"], accepted)
            family.add_metric(["duplicate"], duplicates)
            by_outcome = dict.fromkeys(WEBHOOK_REFUSALS.values(), 0)
            for status, count in refused.items():
                outcome = WEBHOOK_REFUSALS.get(status, "other")
                by_outcome[outcome] = by_outcome.get(outcome, 0) + count
            # Callbacks dated before retention are 400s too, counted apart: a replay, not a malformed request.
            by_outcome["bad_request"] -= expired
            by_outcome["expired"] = expired
            for outcome, count in by_outcome.items():
                family.add_metric([outcome], count)
            yield family
        gaps = getattr(self.event_log, "gaps", None)
        if isinstance(gaps, int):
            yield CounterMetricFamily(f"{NS}_event_log_gaps", "times retention removed events before this replica"
                                      " read them (subscribers that needed them got OUT_OF_RANGE)", value=gaps)
        if self.event_log is not None:
            events, age, size = self._log_stats
            yield GaugeMetricFamily(f"{NS}_event_log_events", "events retained in the log", value=events)
            if age is not None:
                yield GaugeMetricFamily(f"{NS}_event_log_oldest_event_age_seconds",
                                        "age of the oldest retained event", value=age)
            if size is not None:
                yield GaugeMetricFamily(f"{NS}_event_log_bytes", "event log file size (with its WAL)", value=size)
        if self.subscribers is not None:
            yield GaugeMetricFamily(f"{NS}_stream_subscribers", "StreamEvents streams open", value=self.subscribers())
        if self.lags is not None:
            lags = sorted(self.lags())
            summary = Metric(f"{NS}_subscriber_lag_events", "events each open stream is behind the log", "summary")
            for quantile in (0.5, 0.9, 0.99, 1.0):
                value = lags[min(len(lags) - 1, int(quantile * len(lags)))] if lags else 0
                summary.add_sample(f"{NS}_subscriber_lag_events", {"quantile": str(quantile)}, value)
            summary.add_sample(f"{NS}_subscriber_lag_events_count", {}, len(lags))
            summary.add_sample(f"{NS}_subscriber_lag_events_sum", {}, sum(lags))
            yield summary


def _read_metrics(reads: Any) -> Iterator[Metric]:
    """The read front's counts (reads/cache.py keeps them as plain ints: nothing per hit here)."""
    cache, counters = reads.cache, reads.cache.counters
    for name, value, text in (
        ("read_cache_hits", counters.hits, "reads answered from the cache"),
        ("read_cache_misses", counters.misses, "reads the cache could not answer (sent upstream or joined one)"),
        ("read_coalesced", counters.coalesced, "reads answered by another caller's identical request in flight"),
        ("read_cache_invalidations", counters.invalidations, "cached answers dropped by an event or a write"),
        ("read_cache_evictions", counters.evictions, "cached answers dropped to stay within the size bounds"),
        ("read_cache_not_stored", counters.not_stored,
         "answers not cached because an event or a write touching them arrived while they were fetched"),
        ("read_bulk_statistics_requests", reads.queue_statistics.bulk_requests,
         "bulk real-time queue statistics requests sent for batched reads"),
    ):
        yield CounterMetricFamily(f"{NS}_{name}", text, value=value)
    yield GaugeMetricFamily(f"{NS}_read_cache_entries", "answers held in the read cache", value=len(cache))
    yield GaugeMetricFamily(f"{NS}_read_cache_bytes", "serialized bytes of the answers held", value=cache.bytes)
    yield GaugeMetricFamily(f"{NS}_read_cache_event_lag_seconds",
                            "how long before it was applied the newest applied event was committed to the log",
                            value=reads.event_lag_s)
    histogram = Metric(f"{NS}_read_cache_served_age_seconds", "age of the answers served from the cache", "histogram")
    running = 0
    for bound, count in zip((*AGE_BUCKETS, float("inf")), counters.age_counts):
        running += count
        histogram.add_sample(f"{NS}_read_cache_served_age_seconds_bucket",
                             {"le": "+Inf" if bound == float("inf") else str(bound)}, running)
    histogram.add_sample(f"{NS}_read_cache_served_age_seconds_count", {}, running)
    histogram.add_sample(f"{NS}_read_cache_served_age_seconds_sum", {}, counters.age_sum)
    yield histogram
