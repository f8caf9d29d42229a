"""The printed tables and the JSON file."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _cell(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(values, widths)))

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def _unary(section: dict[str, Any]) -> str:
    rows = [
        [r["client"], r["concurrency"], r["rps"], r["p50_ms"], r["p99_ms"], r["server"],
         r["server_cpu_us_per_request"], r["server_busy_pct"], r["errors"]]
        for r in section["rows"]
    ]
    out = table(["client", "conc", "req/s", "p50 ms", "p99 ms", "CPU of", "CPU us/req", "busy %", "errors"], rows)
    derived = [[d["concurrency"], d["cpu_ratio_vs_bare"], d["p50_added_over_rest_ms"], d["rps_ratio_vs_bare"]]
               for d in section["derived"]]
    return out + "\n\n" + table(["conc", "gateway/bare CPU per req", "p50 added over REST ms", "gateway/bare req/s"],
                                derived)


def _features(section: dict[str, Any]) -> str:
    rows = [[r["client"], r["rps"], r["p50_ms"], r["server_cpu_us_per_request"], r["errors"]] for r in section["rows"]]
    out = table(["gateway with", "req/s", "p50 ms", "CPU us/req", "errors"], rows)
    derived = [[d["variant"], d["cpu_ratio_vs_all_off"]] for d in section["derived"]]
    return out + "\n\n" + table([f"variant (concurrency {section['concurrency']})", "CPU per req vs all off"],
                                derived)


def _ingest(section: dict[str, Any]) -> str:
    rows = [
        [r["server"], r["per_second"], r["p50_ms"], r["p99_ms"], r["server_cpu_us_per_callback"],
         r["server_busy_pct"], r["errors"]]
        for r in section["rows"]
    ]
    out = table(["server", "callbacks/s", "p50 ms", "p99 ms", "CPU us/callback", "busy %", "errors"], rows)
    return out + f"\n\ngateway/bare: {section['ratio_vs_bare']:.2f}x  (concurrency {section['concurrency']})"


def _fanout(section: dict[str, Any]) -> str:
    rows = [
        [r["server"], r["subscribers"], r["deliveries_per_second"], r["deliveries_per_cpu_second"],
         r["events_per_message"], r["server_busy_pct"],
         ",".join(f"{k}:{v}" for k, v in r["stream_endings"].items()) or "-"]
        for r in section["rows"]
    ]
    out = table(["server", "subscribers", "deliveries/s", "per CPU-second", "events/message", "busy %",
                 "streams ended"], rows)
    ratios = [[r["subscribers"], r["ceiling"], r["per_cpu_second_ratio"], r["rate_ratio"]] for r in section["ratios"]]
    out += "\n\n" + table(["subscribers", "best ceiling", "gateway/ceiling per CPU-s", "gateway/ceiling deliveries/s"],
                          ratios)
    latency = [
        [lat["rate"], lat["deliveries_per_second_asked"], lat["p50_ms"], lat["p99_ms"], lat["max_ms"],
         lat["deliveries"], lat["missing_deliveries"], lat["gateway_busy_pct"],
         ",".join(f"{k}:{v}" for k, v in lat["stream_endings"].items()) or "-"]
        for lat in section["latency"]
    ]
    subscribers = section["latency"][0]["subscribers"] if section["latency"] else 0
    out += f"\n\nlatency, callback sent -> message received, {subscribers} subscribers:\n" + table(
        ["callbacks/s", "deliveries/s asked", "p50 ms", "p99 ms", "max ms", "delivered", "missing", "busy %",
         "streams ended"],
        latency,
    )
    return out


def _memory(section: dict[str, Any]) -> str:
    return table(
        ["gateway RSS", "MB"],
        [
            ["idle, after start-up", section["gateway_rss_idle_mb"]],
            [f"{section['subscribers']:,} idle subscribers", section["gateway_rss_with_subscribers_mb"]],
            ["after they closed", section["gateway_rss_after_subscribers_closed_mb"]],
            [f"after listing {section['workers']:,} workers ({section['list_pages']} pages)",
             section["gateway_rss_after_listing_mb"]],
            ["peak while listing", section["gateway_rss_peak_while_listing_mb"]],
        ],
    )


def _emulator(section: dict[str, Any]) -> str:
    return table(
        ["emulator", "value"],
        [
            ["fetches/s (alone on one core)", section["fetches_per_second"]],
            ["fetches per CPU-second", section["fetches_per_cpu_second"]],
            ["busy %", section["emulator_busy_pct"]],
            ["p50 / p99 ms", f"{section['p50_ms']:.2f} / {section['p99_ms']:.2f}"],
            [f"RSS MB with {section['workers']:,} workers", section["rss_mb_with_workers"]],
        ],
    )


def _event_log(section: dict[str, Any]) -> str:
    rows = [
        [f"{r['synchronous']} {r['label']}", r["appends_per_second"], r["events_per_commit"],
         r["ratio_vs_fsync_ceiling"]]
        for r in section["rows"]
    ]
    return table(["mode", "appends/s", "events/commit", "x fsync ceiling"], rows) + (
        f"\n\nfsync ceiling: {section['fsyncs_per_second']:,.0f} fsyncs/s; {section['concurrency']} appenders"
    )


def _scaleout(section: dict[str, Any]) -> str:
    rows = [[r["setup"], r["per_second"], r["p50_ms"], r["p99_ms"], r["gateway_cpu_us_per_callback"], r["errors"]]
            for r in section["rows"]]
    out = table(["setup", "callbacks/s", "p50 ms", "p99 ms", "CPU us/callback", "errors"], rows)
    lat, fail = section["cross_replica_latency"], section["leader_failover"]
    return out + (
        f"\n\njetstream/sqlite: {section['jetstream_vs_sqlite']:.2f}x; two replicas/one: {section['two_vs_one']:.2f}x"
        f"\ncross-replica latency at {lat['rate']:,.0f}/s to {lat['subscribers']} subscribers: p50 "
        f"{lat['p50_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms, missing {lat['missing_deliveries']}"
        f"\nleader {fail['killed_leader']} killed: longest ingest gap {fail['longest_ingest_gap_s']:.2f} s, "
        f"longest wait for a 204 {fail['longest_wait_for_204_s']:.2f} s, {fail['acked']} acked, "
        f"{fail['acked_missing_from_stream']} missing; non-204 answers {fail['non_204_answers']}"
        f"\nplacement: {section['placement']}"
    )


def _routing(section: dict[str, Any]) -> str:
    throughput, latency = section["throughput"], section["latency"]
    rows = [[f"{row['workers']:,} workers, 50 queues", row["tasks_per_second"], row["ms_per_task"]]
            for row in (throughput["small"], throughput["large"])]
    return table(["routing engine", "tasks/s", "ms/task"], rows) + (
        f"\n\ncost ratio {throughput['cost_ratio']:.2f} (linear ceiling {throughput['linear_ceiling']:.1f}); "
        f"CreateTask -> reservation.created at a subscriber: p50 {latency['p50_ms']:.1f} ms, "
        f"p99 {latency['p99_ms']:.1f} ms ({latency['samples']} samples)"
    )


def _history(section: dict[str, Any]) -> str:
    lite, js = section["sqlite"], section["jetstream"]
    prune, during, quiet = lite["prune"], lite["append_during_prune"], lite["append_quiet"]

    def lat(figures: dict[str, float]) -> str:
        return f"{figures['p50_ms']:.2f} / {figures['p99_ms']:.2f} / {figures['max_ms']:.2f}"

    out = f"SQLite, {lite['events']:,} events over 30 days ({lite['file_gb']:.1f} GB, generated in " + (
        f"{lite['generate_s']:.0f} s), {lite['samples']} samples each:\n"
    ) + table(["SQLite", "value"], [
        ["open() s", lite["open_s"]],
        ["since an hour ago + first 100 events, ms p50 / p99 / max", lat(lite["since_hour_ago"])],
        ["cursor resume, 100 events, ms p50 / p99 / max", lat(lite["cursor_resume"])],
        ["get(sid) ms p50 / p99 / max", lat(lite["get_sid"])],
        [f"append, no prune ({quiet['appends']:,}), ms p50 / p99 / max", lat(quiet)],
        [f"append during prune ({during['appends']:,}), ms p50 / p99 / max", lat(during)],
        ["appends over 100 ms: no prune / during prune", f"{quiet['over_100ms']:,} / {during['over_100ms']:,}"],
        [f"prune: {prune['removed']:,} removed in {prune['chunks']:,} chunks", f"{prune['seconds']:.1f} s"],
        ["prune: longest chunk ms / append commits between chunks / WAL MB after",
         f"{prune['longest_chunk_ms']:.1f} / {prune['append_commits_between_chunks']:,} / {prune['wal_mb_after']:.0f}"],
    ])
    rows = [[r["events"], "yes" if r["started"] else "FAILED", r["start_s"], r["rss_mb"], r.get("reason", "")]
            for r in js["rows"]]
    out += "\n\nJetStream, one node, gateway spawn -> banner:\n" + table(
        ["retained events", "started", "start s", "RSS MB", "why not"], rows)
    published = ", ".join(f"{p['published']:,} at {p['per_second']:,.0f}/s" for p in js["publishing"])
    return out + f"\npublished {published}; store {js['store_gb']:.1f} GB\nplacement: {section['placement']}"


def _requests_by_client(rows: list[dict[str, Any]]) -> str:
    """One row per client and concurrency: throughput, latency and the gateway's CPU per request."""
    return table(["client", "conc", "req/s", "p50 ms", "p99 ms", "CPU us/req", "busy %", "errors"],
                 [[r["client"], r["concurrency"], r["rps"], r["p50_ms"], r["p99_ms"], r["server_cpu_us_per_request"],
                   r["server_busy_pct"], r["errors"]] for r in rows])


def _reads(section: dict[str, Any]) -> str:
    out = _requests_by_client(section["rows"])
    derived = [[d["concurrency"], d["hit_cpu_ratio_vs_bare"], d["hit_p50_added_over_bare_ms"]]
               for d in section["derived"]]
    out += "\n\n" + table(["conc", "cache hit/bare CPU per req", "hit p50 added over bare ms"], derived)
    p = section["polling"]
    out += "\n\n" + table(
        ["polling", "served", "errors", "upstream bulk req", "upstream req/s", "429s", "CPU us/served",
         "without gateway req/s"],
        [[f"{p['callers']} callers x {p['queues']} queues every {p['period_s']:g} s", p["served"], p["errors"],
          p["upstream_bulk_requests"], p["upstream_bulk_per_second"], p["refused_429"],
          p["gateway_cpu_us_per_served"], p["upstream_without_gateway_per_second"]]],
    )
    return out


def _connect(section: dict[str, Any]) -> str:
    out = _requests_by_client(section["rows"])
    derived = [[d["concurrency"], d["json_cpu_ratio_vs_grpc"], d["proto_cpu_ratio_vs_grpc"]] for d in section["derived"]]
    out += "\n\n" + table(["conc", "Connect JSON/gRPC CPU per req", "Connect binary/gRPC CPU per req"], derived)
    streams = [[r["transport"], r["subscribers"], r["deliveries_per_second"], r["deliveries_per_cpu_second"],
                section["stream_ratio_vs_grpc"].get(r["transport"], 1.0)] for r in section["streams"]]
    return out + "\n\n" + table(["StreamEvents", "subscribers", "deliveries/s", "deliveries/CPU-s", "vs gRPC"], streams)


_RENDERERS = {
    "unary": ("1. Unary: WorkerService.GetWorker", _unary),
    "features": ("1b. Unary with TLS, auth, metrics, tracing", _features),
    "ingest": ("2. Ingest: signed callbacks", _ingest),
    "fanout": ("3. Fan-out: StreamEvents", _fanout),
    "memory": ("4. Memory", _memory),
    "emulator": ("Emulator", _emulator),
    "event_log": ("Event log (SQLite, in-process)", _event_log),
    "scaleout": ("7. Scale-out on NATS JetStream", _scaleout),
    "routing": ("Task routing", _routing),
    "history": ("Event history at size", _history),
    "reads": ("8. Reads: the cache and statistics polling", _reads),
    "connect": ("9. Connect: the same RPCs for curl and browsers", _connect),
}


def render(results: dict[str, Any]) -> str:
    parts = [
        f"TaskRouter gateway benchmarks - size {results['size']}, {results['machine']['cpus']} cores, "
        f"load average at start {results['machine']['loadavg_start'][0]:.2f}; other processes used "
        f"{results['machine']['other_processes_cpu_seconds']:.0f} CPU-s and the hypervisor stole "
        f"{results['machine']['steal_cpu_seconds']:.0f} CPU-s during the {results['duration_seconds']:.0f} s run",
        f"placement: {results['placement']}",
    ]
    for name, (title, renderer) in _RENDERERS.items():
        section = results["sections"].get(name)
        if section is None:
            continue
        parts.append(f"\n== {title} ==")
        if "error" in section:
            parts.append(f"FAILED: {section['error'].strip().splitlines()[-1]}")
        else:
            parts.append(renderer(section))
    parts.append("\n== Targets ==")
    parts.append(table(
        ["target", "value", "limit", "verdict"],
        [[t["description"], "-" if t["value"] is None else f"{_cell(t['value'])} {t['unit']}",
          f"{t['op']} {_cell(t['limit'])} {t['unit']}", t["verdict"].upper()] for t in results["targets"]],
    ))
    return "\n".join(parts)


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
