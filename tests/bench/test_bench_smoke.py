"""The benchmark suite at its smoke size: every section runs and writes a well-formed result.

Shape only: sections present, every figure a finite positive number, every target listed with a verdict,
no failed requests. Never the timings themselves, nor whether a target passed: those depend on the machine.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.procs import run_in_own_group

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = (
    "emulator", "unary", "features", "ingest", "fanout", "memory", "event_log", "scaleout", "routing", "history",
    "reads", "connect",
)
TARGET_IDS = {
    "unary_cpu_ratio_high", "unary_cpu_ratio_low", "unary_p50_added", "ingest_ratio", "fanout_cpu_ratio",
    "latency_p99", "memory_rss_subscribers", "emulator_fetches",
    "scaleout_two_vs_one", "scaleout_latency_p99", "scaleout_outage", "scaleout_acked_kept",
    "features_auth_metrics_cpu", "routing_linear",
    "history_js_start", "history_js_rss_growth", "history_sqlite_open", "history_sqlite_since_p99",
    "history_sqlite_cursor_p99", "history_sqlite_prune_stall",
    "reads_hit_cpu", "reads_hit_p50", "reads_polling_rate", "reads_polling_429",
    "connect_json_cpu_high", "connect_json_cpu_low", "connect_proto_cpu_high", "connect_proto_cpu_low",
    "connect_stream_json", "connect_stream_proto",
}
RUN_TIMEOUT = 150  # an upper bound for a hung run only; the smoke size takes seconds


def _bench(*args: str, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess[str]:
    # Its own process group, killed whole on timeout: no nats-server or load agent outlives a hung run.
    return run_in_own_group([sys.executable, "-m", "bench", *args], cwd=ROOT, timeout=timeout)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    output = tmp_path_factory.mktemp("bench") / "latest.json"
    run = _bench("--size", "smoke", "--output", str(output))
    assert run.returncode == 0, f"bench failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return run, json.loads(output.read_text())


def _positive(value: Any, where: str) -> None:
    assert isinstance(value, (int, float)) and not isinstance(value, bool), f"{where}: {value!r} is not a number"
    assert math.isfinite(value) and value > 0, f"{where}: {value!r} is not a finite positive number"


def _all_numbers_finite(node: Any, where: str = "$") -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _all_numbers_finite(value, f"{where}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _all_numbers_finite(value, f"{where}[{index}]")
    elif isinstance(node, float):
        assert math.isfinite(node), f"{where} is {node}"


def test_every_section_is_present_and_succeeded(smoke):
    _, results = smoke
    assert results["size"] == "smoke"
    assert set(results["sections"]) == set(SECTIONS)
    for name, section in results["sections"].items():
        assert "error" not in section, f"{name} failed:\n{section.get('error')}"
    _all_numbers_finite(results)


def test_unary_rows_cover_every_client_at_every_concurrency(smoke):
    unary = smoke[1]["sections"]["unary"]
    clients = {"gateway", "bare grpc", "bare proxy", "direct REST", "twilio library"}
    concurrencies = {row["concurrency"] for row in unary["rows"]}
    assert len(concurrencies) == 2
    for concurrency in concurrencies:
        rows = [r for r in unary["rows"] if r["concurrency"] == concurrency]
        assert {next(c for c in clients if r["client"].startswith(c)) for r in rows} == clients
    for row in unary["rows"]:
        where = f"unary {row['client']} c={row['concurrency']}"
        assert row["errors"] == 0, f"{where}: {row['first_error']}"
        for key in ("requests", "rps", "p50_ms", "p99_ms", "server_cpu_us_per_request"):
            _positive(row[key], f"{where} {key}")
        assert row["p50_ms"] <= row["p99_ms"]
    for derived in unary["derived"]:
        _positive(derived["cpu_ratio_vs_bare"], "unary cpu ratio")
        _positive(derived["proxy_floor_cpu_ratio_vs_bare"], "unary proxy floor ratio")
        assert math.isfinite(derived["p50_added_over_rest_ms"])  # may be negative on a quiet machine


def test_feature_rows_compare_each_variant_with_all_off(smoke):
    features = smoke[1]["sections"]["features"]
    variants = [d["variant"] for d in features["derived"]]
    assert variants[0] == "all off" and {"token auth + metrics", "TLS + token auth", "tracing, sampling off"} <= set(variants)
    for row in features["rows"]:
        # An auth or TLS failure would count here: every request of every variant must succeed.
        assert row["errors"] == 0, f"features {row['client']}: {row['first_error']}"
        _positive(row["server_cpu_us_per_request"], f"features {row['client']}")
    for derived in features["derived"]:
        _positive(derived["cpu_ratio_vs_all_off"], f"features {derived['variant']}")


def test_ingest_accepts_every_presigned_callback(smoke):
    ingest = smoke[1]["sections"]["ingest"]
    assert [row["server"] for row in ingest["rows"]] == ["gateway", "bare_http"]
    for row in ingest["rows"]:
        # A rejected signature would answer 403 and count here: the presigned load must be valid.
        assert row["errors"] == 0, f"ingest {row['server']}: {row['first_error']}"
        for key in ("accepted", "per_second", "p50_ms", "p99_ms", "server_cpu_us_per_callback"):
            _positive(row[key], f"ingest {row['server']} {key}")
    _positive(ingest["ratio_vs_bare"], "ingest ratio")


def test_fanout_reaches_every_subscriber_without_overflow(smoke):
    fanout = smoke[1]["sections"]["fanout"]
    counts = sorted({row["subscribers"] for row in fanout["rows"]})
    assert len(counts) >= 2
    for row in fanout["rows"]:
        where = f"fanout {row['server']} x{row['subscribers']}"
        assert row["stream_endings"] == {}, f"{where}: streams ended {row['stream_endings']}"
        for key in ("delivered", "deliveries_per_second", "deliveries_per_cpu_second"):
            _positive(row[key], f"{where} {key}")
        if row["server"] == "gateway":
            assert row["callback_errors"] == 0, f"{where}: {row['first_callback_error']}"
    assert sorted(r["subscribers"] for r in fanout["ratios"]) == counts
    for latency in fanout["latency"]:
        assert latency["callback_errors"] == 0, latency["first_callback_error"]
        assert latency["missing_deliveries"] == 0 and latency["stream_endings"] == {}
        assert latency["deliveries"] == latency["callbacks"] * latency["subscribers"]
        for key in ("p50_ms", "p99_ms", "max_ms"):
            _positive(latency[key], f"latency {key}")


def test_memory_and_emulator_figures(smoke):
    sections = smoke[1]["sections"]
    memory, emulator = sections["memory"], sections["emulator"]
    for key in ("gateway_rss_idle_mb", "gateway_rss_with_subscribers_mb", "gateway_rss_after_listing_mb",
                "emulator_rss_mb"):
        _positive(memory[key], f"memory {key}")
    # Every worker created in the emulator came back through ListWorkers, page by page.
    assert memory["workers"] == emulator["workers"]
    assert memory["list_pages"] == math.ceil(memory["workers"] / memory["list_page_size"])
    assert emulator["errors"] == 0, emulator["first_error"]
    for key in ("fetches_per_second", "fetches_per_cpu_second", "rss_mb_with_workers"):
        _positive(emulator[key], f"emulator {key}")
    event_log = sections["event_log"]
    _positive(event_log["fsyncs_per_second"], "fsyncs/s")
    assert len(event_log["rows"]) == 3
    for row in event_log["rows"]:
        _positive(row["appends_per_second"], f"event log {row['synchronous']} {row['label']}")


def test_scaleout_measures_every_setup_and_loses_nothing_acknowledged(smoke):
    scaleout = smoke[1]["sections"]["scaleout"]
    assert [r["setup"] for r in scaleout["rows"]] == [
        "sqlite, 1 replica", "jetstream R3, 1 replica", "jetstream R3, 2 replicas"
    ]
    for row in scaleout["rows"]:
        assert row["errors"] == 0, f"scaleout {row['setup']}: {row['first_error']}"
        for key in ("accepted", "per_second", "p50_ms", "p99_ms", "gateway_cpu_us_per_callback"):
            _positive(row[key], f"scaleout {row['setup']} {key}")
    _positive(scaleout["two_vs_one"], "two replicas vs one")
    cross = scaleout["cross_replica_latency"]
    assert cross["missing_deliveries"] == 0 and cross["stream_endings"] == {}
    failover = scaleout["leader_failover"]
    assert failover["acked"] == failover["callbacks"] and failover["acked_missing_from_stream"] == 0
    _positive(failover["longest_ingest_gap_s"], "outage")


def test_every_target_is_listed_with_a_verdict(smoke):
    run, results = smoke
    targets = results["targets"]
    assert {t["id"] for t in targets} == TARGET_IDS
    for target in targets:
        assert target["verdict"] in ("pass", "fail"), target
        assert target["op"] in ("<=", ">=")
        _positive(target["limit"], f"target {target['id']} limit")
        assert isinstance(target["value"], float) and math.isfinite(target["value"]), target
        assert target["description"] in run.stdout  # the printed table lists it too
    assert "== Targets ==" in run.stdout


def test_unknown_section_is_refused_with_the_choices():
    run = _bench("--only", "unary,nosuch", timeout=60)
    assert run.returncode == 2
    assert "choose from emulator, unary, features, ingest, fanout, memory, event_log, scaleout, routing, history" in run.stderr
    assert "'unary,nosuch'" in run.stderr


def test_unknown_size_is_refused():
    run = _bench("--size", "huge", timeout=60)
    assert run.returncode == 2
    assert "invalid choice: 'huge'" in run.stderr


def test_routing_figures(smoke):
    routing = smoke[1]["sections"]["routing"]
    throughput, latency = routing["throughput"], routing["latency"]
    for label in ("small", "large"):
        _positive(throughput[label]["tasks_per_second"], f"routing {label} tasks/s")
    assert throughput["large"]["workers"] == 4 * throughput["small"]["workers"]
    assert throughput["linear_ceiling"] == 4.0
    _positive(throughput["cost_ratio"], "routing cost ratio")
    _positive(latency["p50_ms"], "routing latency p50")
    assert latency["p50_ms"] <= latency["p99_ms"] and latency["samples"] > 0


def test_history_figures(smoke):
    history = smoke[1]["sections"]["history"]
    lite, js = history["sqlite"], history["jetstream"]
    assert lite["events"] == 50_000  # the smoke size's generated log, all of it retained before the prune
    for key in ("since_hour_ago", "cursor_resume", "get_sid", "append_quiet", "append_during_prune"):
        assert lite[key]["p50_ms"] <= lite[key]["p99_ms"] <= lite[key]["max_ms"], key
        _positive(lite[key]["p50_ms"], f"sqlite {key}")
    _positive(lite["open_s"], "sqlite open")
    # The prune removed about the oldest 10% (events were spread evenly over 30 days), in several chunks,
    # with appends committed between them.
    prune = lite["prune"]
    assert 4_500 <= prune["removed"] <= 5_500, prune
    assert prune["chunks"] > 1 and prune["append_commits_between_chunks"] > 0, prune
    assert [row["events"] for row in js["rows"]] == [0, 1_000, 20_000]
    for row in js["rows"]:
        assert row["started"], f"gateway on {row['events']} events: {row.get('reason')}"
        _positive(row["start_s"], "start-up")
        _positive(row["rss_mb"], "rss")
    assert [p["events"] for p in js["publishing"]] == [1_000, 20_000]


def test_reads_cover_cache_hits_and_polling_without_errors(smoke):
    reads = smoke[1]["sections"]["reads"]
    assert {row["client"].split(",")[0] for row in reads["rows"]} == {"gateway", "bare grpc.aio (prebuilt Worker)"}
    for row in reads["rows"]:
        assert row["errors"] == 0, row["first_error"]
        _positive(row["server_cpu_us_per_request"], row["client"])
    polling = reads["polling"]
    assert polling["errors"] == 0, polling["first_error"]
    _positive(polling["served"], "polling.served")
    _positive(polling["upstream_bulk_requests"], "polling.upstream_bulk_requests")
    assert polling["refused_429"] == 0  # the gateway paces itself: not a timing, a property


def test_connect_covers_grpc_json_and_binary_unary_and_streams_without_errors(smoke):
    connect = smoke[1]["sections"]["connect"]
    assert {row["client"] for row in connect["rows"]} == {"gRPC GetWorker", "Connect JSON GetWorker",
                                                         "Connect binary GetWorker"}
    for row in connect["rows"]:
        assert row["errors"] == 0, row["first_error"]
        _positive(row["server_cpu_us_per_request"], row["client"])
    assert [row["transport"] for row in connect["streams"]] == ["gRPC", "Connect JSON", "Connect binary"]
    for row in connect["streams"]:
        _positive(row["delivered"], f"{row['transport']} deliveries")
        assert row["stream_endings"] == {}, row["stream_endings"]
    for name in ("Connect JSON", "Connect binary"):
        _positive(connect["stream_ratio_vs_grpc"][name], name)
