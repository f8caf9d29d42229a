"""The statistics benchmark at its smoke size: it runs, fills the log, and writes finite positive figures.
Never the timings themselves, nor whether a ceiling held: those depend on the machine."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from bench.procs import run_in_own_group

ROOT = Path(__file__).resolve().parents[2]


def test_statistics_bench_smoke_writes_well_formed_results(tmp_path: Path) -> None:
    output = tmp_path / "statistics.json"
    run = run_in_own_group(
        [sys.executable, "-m", "bench.statistics", "--size", "smoke", "--output", str(output)], cwd=ROOT, timeout=120
    )
    assert output.exists(), f"bench failed:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}"
    result = json.loads(output.read_text())
    assert result["events_in_log"] > 1500 and result["days"] == 30
    figures = [result["first_request_ms"], result["index_build_ms"], result["events_page_ms"],
               *result["warm_ms"].values()]
    assert set(result["warm_ms"]) == {"workspace", "task_queue", "workflow", "workers", "task_queues_list"}
    assert all(value > 0 and math.isfinite(value) for value in figures)
    assert result["spec_ceiling_ms"] == 1000.0
    assert "cumulative statistics" in run.stdout and "ceiling" in run.stdout
