"""Percentiles and the latency summary every load job returns."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (fraction in 0..1); NaN when there are none."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * fraction // 1))  # ceil(n * fraction), at least the first
    return float(sorted_values[int(min(rank, len(sorted_values))) - 1])


def latency_summary_ms(latencies_ns: list[int]) -> dict[str, float]:
    """p50/p99/max in milliseconds of latencies given in nanoseconds."""
    values = sorted(latencies_ns)
    return {
        "p50_ms": percentile(values, 0.50) / 1e6,
        "p99_ms": percentile(values, 0.99) / 1e6,
        "max_ms": (values[-1] / 1e6) if values else float("nan"),
    }


def median_rows(runs: list[dict[str, Any]], key: tuple[str, ...]) -> list[dict[str, Any]]:
    """One row per distinct `key`, in first-seen order: the median of each number over the repeated runs,
    the other fields from the first run, and each run's CPU and rate figures under "runs"."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault(tuple(run[k] for k in key), []).append(run)
    rows = []
    for group in groups.values():
        row = dict(group[0])
        for name, value in group[0].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and name not in key:
                row[name] = statistics.median(r[name] for r in group)
        row["errors"] = sum(r.get("errors", 0) for r in group)
        row["runs"] = [{k: r[k] for k in ("rps", "server_cpu_us_per_request") if k in r} for r in group]
        rows.append(row)
    return rows
