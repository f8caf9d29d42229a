"""The event log on its own (bench/event_log_append.py): appends per second from 50 concurrent appenders,
against raw fsyncs per second on the same disk: what ingest can reach at most with synchronous=FULL.

In-process by nature (the appenders are coroutines of the log's own process), so it runs in this process,
moved to the server core while it runs.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any

from ..context import RunContext
from ..event_log_append import appends_per_second, fsyncs_per_second

CONCURRENCY = 50
RUNS = (("FULL", 1000, "group commit"), ("FULL", 1, "group commit off"), ("NORMAL", 1000, "group commit"))


def run(ctx: RunContext) -> dict[str, Any]:
    seconds = ctx.size.event_log_seconds
    os.sched_setaffinity(0, ctx.cores.server)
    try:
        with tempfile.TemporaryDirectory(dir=ctx.work_dir) as tmp:
            directory = Path(tmp)
            ceiling = fsyncs_per_second(directory, seconds)
            rows = []
            for n, (mode, max_batch, label) in enumerate(RUNS):
                rate, appended, commits = asyncio.run(
                    appends_per_second(directory / f"events-{n}.db", mode, max_batch, CONCURRENCY, seconds)
                )
                rows.append({
                    "synchronous": mode,
                    "max_batch": max_batch,
                    "label": label,
                    "appends_per_second": rate,
                    "appended": appended,
                    "commits": commits,
                    "events_per_commit": appended / max(commits, 1),
                    "ratio_vs_fsync_ceiling": rate / ceiling,
                })
    finally:
        os.sched_setaffinity(0, ctx.cores.load)
    return {
        "placement": f"in-process on core {sorted(ctx.cores.server)[0]} "
        "(appenders and log share the process by design)",
        "disk": str(ctx.work_dir),
        "concurrency": CONCURRENCY,
        "fsyncs_per_second": ceiling,
        "rows": rows,
    }
