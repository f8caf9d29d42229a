"""The targets, each a figure read from the results and compared with its limit: pass or fail.

A target whose section was not run (--only) is listed with verdict "not run". Smoke runs list verdicts
too, but their sizes are scaled down, so only a full run's verdicts mean anything.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Results = dict[str, Any]


@dataclass(frozen=True)
class Target:
    id: str
    section: str
    description: str
    unit: str
    op: str  # "<=" or ">="
    limit: float
    read: Callable[[Results, Any], float]


def _unary(results: Results, concurrency: int, key: str) -> float:
    return next(d[key] for d in results["unary"]["derived"] if d["concurrency"] == concurrency)


def _fanout_ratio(results: Results, subscribers: int) -> float:
    return next(r["per_cpu_second_ratio"] for r in results["fanout"]["ratios"] if r["subscribers"] == subscribers)


def _connect(results: Results, concurrency: int, key: str) -> float:
    return next(d[key] for d in results["connect"]["derived"] if d["concurrency"] == concurrency)


def _reads(results: Results, concurrency: int, key: str) -> float:
    return next(d[key] for d in results["reads"]["derived"] if d["concurrency"] == concurrency)


def _admitted(polling: dict[str, Any]) -> float:
    sent = polling["upstream_bulk_requests"] + polling["refused_429"]
    return polling["upstream_bulk_requests"] / sent if sent else 0.0


def _feature(results: Results, variant: str) -> float:
    return next(d["cpu_ratio_vs_all_off"] for d in results["features"]["derived"] if d["variant"] == variant)


def targets_for(size: Any) -> list[Target]:
    low, high = min(size.unary_concurrency), max(size.unary_concurrency)
    small, large = size.history_stream_events
    sqlite_n = size.history_sqlite_events
    fanout_n = size.fanout_target_subscribers
    return [
        Target("unary_cpu_ratio_high", "unary",
               f"unary: gateway CPU per request vs bare gRPC server's, concurrency {high}", "x", "<=", 2.5,
               lambda r, s: _unary(r, high, "cpu_ratio_vs_bare")),
        Target("unary_cpu_ratio_low", "unary",
               f"unary: gateway CPU per request vs bare gRPC server's, concurrency {low}", "x", "<=", 2.5,
               lambda r, s: _unary(r, low, "cpu_ratio_vs_bare")),
        Target("unary_p50_added", "unary",
               f"unary: p50 added over the direct REST call, concurrency {low}", "ms", "<=", 1.0,
               lambda r, s: _unary(r, low, "p50_added_over_rest_ms")),
        Target("features_auth_metrics_cpu", "features",
               f"unary: CPU per request with token auth + metrics vs all off, concurrency {high}", "x", "<=", 1.15,
               lambda r, s: _feature(r, "token auth + metrics")),
        Target("ingest_ratio", "ingest", "ingest: accepted callbacks/s vs bare aiohttp 204 handler", "x", ">=", 0.5,
               lambda r, s: r["ingest"]["ratio_vs_bare"]),
        Target("fanout_cpu_ratio", "fanout",
               f"fan-out to {fanout_n} subscribers: deliveries per CPU-second vs bare streaming", "x", ">=", 0.7,
               lambda r, s: _fanout_ratio(r, fanout_n)),
        Target("latency_p99", "fanout",
               f"latency callback->subscriber p99 at {size.latency_rates[0]:,.0f} events/s, "
               f"{size.latency_subscribers} subscribers", "ms", "<=", 10.0,
               lambda r, s: r["fanout"]["latency"][0]["p99_ms"]),
        Target("memory_rss_subscribers", "memory",
               f"memory: gateway RSS with {size.memory_subscribers:,} idle subscribers", "MB", "<=", 150.0,
               lambda r, s: r["memory"]["gateway_rss_with_subscribers_mb"]),
        Target("scaleout_two_vs_one", "scaleout", "scale-out: callbacks/s, two JetStream replicas vs one", "x", ">=",
               1.7, lambda r, s: r["scaleout"]["two_vs_one"]),
        Target("scaleout_latency_p99", "scaleout",
               "scale-out: latency callback (replica A) -> subscriber (replica B) p99", "ms", "<=", 20.0,
               lambda r, s: r["scaleout"]["cross_replica_latency"]["p99_ms"]),
        Target("scaleout_outage", "scaleout", "scale-out: longest ingest outage while the stream leader is killed",
               "s", "<=", 10.0, lambda r, s: r["scaleout"]["leader_failover"]["longest_ingest_gap_s"]),
        Target("scaleout_acked_kept", "scaleout", "scale-out: acknowledged callbacks kept across the leader kill",
               "fraction", ">=", 1.0, lambda r, s: r["scaleout"]["leader_failover"]["acked_kept_fraction"]),
        Target("emulator_fetches", "emulator", "emulator: worker fetches/s on one core", "/s", ">=", 3000.0,
               lambda r, s: r["emulator"]["fetches_per_second"]),
        # The ceiling is the worker ratio of the two runs (4x): the cost per task may grow at most linearly.
        Target("routing_linear", "routing", "routing: cost per task at W vs W/4 workers (linear = 4x)", "x", "<=",
               4.0, lambda r, s: r["routing"]["throughput"]["cost_ratio"]),
        Target("history_js_start", "history", f"history: JetStream gateway start-up with {large:,} events retained",
               "s", "<=", 3.0, lambda r, s: r["history"]["jetstream"]["start_large_s"]),
        Target("history_js_rss_growth", "history",
               f"history: JetStream gateway RSS after start, {large:,} vs {small:,} events", "MB", "<=", 30.0,
               lambda r, s: r["history"]["jetstream"]["rss_growth_mb"]),
        Target("history_sqlite_open", "history", f"history: SQLite open() at {sqlite_n:,} events", "s", "<=", 3.0,
               lambda r, s: r["history"]["sqlite"]["open_s"]),
        Target("history_sqlite_since_p99", "history",
               f"history: SQLite since an hour ago to the first {100} events p99, {sqlite_n:,} events", "ms", "<=",
               50.0, lambda r, s: r["history"]["sqlite"]["since_hour_ago"]["p99_ms"]),
        Target("history_sqlite_cursor_p99", "history",
               f"history: SQLite cursor resume (100 events) p99, {sqlite_n:,} events", "ms", "<=", 50.0,
               lambda r, s: r["history"]["sqlite"]["cursor_resume"]["p99_ms"]),
        Target("history_sqlite_prune_stall", "history",
               "history: SQLite longest append while retention prunes 10% of the log", "ms", "<=", 100.0,
               lambda r, s: r["history"]["sqlite"]["append_during_prune"]["max_ms"]),
        Target("reads_hit_cpu", "reads", f"reads: CPU per cache hit vs bare gRPC server's, concurrency {high}", "x",
               "<=", 1.3, lambda r, s: _reads(r, high, "hit_cpu_ratio_vs_bare")),
        Target("reads_hit_p50", "reads", f"reads: cache hit p50 added over bare gRPC server's, concurrency {low}",
               "ms", "<=", 0.2, lambda r, s: _reads(r, low, "hit_p50_added_over_bare_ms")),
        # Fifty callers each polling every second: without the gateway, 50 requests a second; TaskRouter allows 5.
        Target("reads_polling_rate", "reads", "reads: upstream bulk statistics requests/s, 50 callers polling",
               "/s", "<=", 5.0, lambda r, s: r["reads"]["polling"]["upstream_bulk_per_second"]),
        Target("connect_json_cpu_high", "connect",
               f"Connect JSON GetWorker: gateway CPU per request vs gRPC's, concurrency {high}", "x", "<=", 1.5,
               lambda r, s: _connect(r, high, "json_cpu_ratio_vs_grpc")),
        Target("connect_json_cpu_low", "connect",
               f"Connect JSON GetWorker: gateway CPU per request vs gRPC's, concurrency {low}", "x", "<=", 1.5,
               lambda r, s: _connect(r, low, "json_cpu_ratio_vs_grpc")),
        Target("connect_proto_cpu_high", "connect",
               f"Connect binary GetWorker: gateway CPU per request vs gRPC's, concurrency {high}", "x", "<=", 1.3,
               lambda r, s: _connect(r, high, "proto_cpu_ratio_vs_grpc")),
        Target("connect_proto_cpu_low", "connect",
               f"Connect binary GetWorker: gateway CPU per request vs gRPC's, concurrency {low}", "x", "<=", 1.3,
               lambda r, s: _connect(r, low, "proto_cpu_ratio_vs_grpc")),
        Target("connect_stream_json", "connect",
               f"Connect JSON StreamEvents, {fanout_n} subscribers: deliveries per CPU-second vs gRPC", "x", ">=", 0.5,
               lambda r, s: r["connect"]["stream_ratio_vs_grpc"]["Connect JSON"]),
        Target("connect_stream_proto", "connect",
               f"Connect binary StreamEvents, {fanout_n} subscribers: deliveries per CPU-second vs gRPC", "x", ">=",
               0.5, lambda r, s: r["connect"]["stream_ratio_vs_grpc"]["Connect binary"]),
        Target("reads_polling_429", "reads", "reads: bulk requests the emulator's limit admitted (not 429), polling",
               "fraction", ">=", 1.0, lambda r, s: _admitted(r["reads"]["polling"])),
    ]


def evaluate(size: Any, results: Results) -> list[dict[str, Any]]:
    verdicts = []
    for target in targets_for(size):
        entry: dict[str, Any] = {
            "id": target.id, "section": target.section, "description": target.description,
            "unit": target.unit, "op": target.op, "limit": target.limit,
        }
        if target.section not in results or "error" in results[target.section]:
            entry.update(value=None, verdict="not run" if target.section not in results else "error")
        else:
            value = float(target.read(results, size))
            ok = value <= target.limit if target.op == "<=" else value >= target.limit
            entry.update(value=value, verdict="pass" if ok and math.isfinite(value) else "fail")
        verdicts.append(entry)
    return verdicts
