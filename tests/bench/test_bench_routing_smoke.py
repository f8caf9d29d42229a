"""The routing benchmark at its smoke size: it runs, and writes finite positive figures. Never the timings
themselves, nor whether the linear ceiling held: those depend on the machine."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_routing_bench_smoke_writes_well_formed_results(tmp_path: Path) -> None:
    output = tmp_path / "routing.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench.routing", "--size", "smoke", "--output", str(output)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert output.exists(), f"bench failed:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}"
    result = json.loads(output.read_text())
    throughput, latency = result["throughput"], result["latency"]
    for label in ("small", "large"):
        assert throughput[label]["tasks_per_second"] > 0 and math.isfinite(throughput[label]["tasks_per_second"])
    assert throughput["large"]["workers"] == 4 * throughput["small"]["workers"]
    assert throughput["linear_ceiling"] == 4.0 and throughput["cost_ratio"] > 0
    assert 0 < latency["p50_ms"] <= latency["p99_ms"] and latency["samples"] == 20
    assert "tasks/s" in run.stdout and "p99" in run.stdout
