"""`python -m bench` (or `./dev bench`): every benchmark, a table, and the results as JSON.

    python -m bench [--size smoke|full]
                    [--only unary,features,ingest,fanout,memory,emulator,event_log,scaleout,routing,history,reads]
                    [--output FILE]
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .contention import ForeignCpu
from .context import RunContext
from .report import render, write_json
from .sizes import SIZES
from .targets import evaluate

SECTIONS = ("emulator", "unary", "features", "ingest", "fanout", "memory", "event_log", "scaleout", "routing", "history",
            "reads", "connect")
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _sections(text: str) -> list[str]:
    wanted = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in SECTIONS]
    if unknown or not wanted:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(SECTIONS)}; got {text!r}")
    return [name for name in SECTIONS if name in wanted]  # always in the suite's order


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", choices=sorted(SIZES), default="full",
                        help="full: the sizes the targets are stated for; smoke: seconds, for CI [default full]")
    parser.add_argument("--only", type=_sections, default=list(SECTIONS), metavar="SECTIONS",
                        help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "latest.json", help="JSON results file")
    return parser


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("grpcio", "protobuf", "aiohttp", "twilio")}


def run_section(ctx: RunContext, run: Callable[[RunContext], dict[str, Any]]) -> dict[str, Any]:
    """One section's results, or {"error": traceback} if it raised; either way the load agents are left
    ready for the next section (a failure mid-job would otherwise make every later one fail at once)."""
    started = time.time()
    try:
        result = run(ctx)
    except Exception:  # noqa: BLE001 - one broken section must not hide the others' results
        result = {"error": traceback.format_exc()}
    restarted = ctx.recover_agents()
    if restarted:
        result["agents_restarted"] = restarted
    result["section_seconds"] = time.time() - started
    return result


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from taskrouter_gateway import logs

    logs.configure("console", "warning")  # the event_log section opens logs in this process
    size = SIZES[args.size]
    started = time.time()
    loadavg_start = os.getloadavg()
    foreign = ForeignCpu()
    log_dir = args.output.parent / "logs"
    ctx = RunContext.create(size, log_dir)
    sections: dict[str, Any] = {}
    foreign_seconds = steal_seconds = 0.0
    try:
        for name in args.only:
            print(f"[bench] {name} ...", file=sys.stderr, flush=True)
            sections[name] = run_section(ctx, importlib.import_module(f"bench.sections.{name}").run)
        foreign_seconds = foreign.seconds()  # before close(): our children must still count as ours
        steal_seconds = foreign.steal_seconds()
    finally:
        ctx.close()
    results: dict[str, Any] = {
        "schema": 1,
        "command": " ".join([Path(sys.executable).name, "-m", "bench", *(argv if argv is not None else sys.argv[1:])]),
        "size": size.name,
        "started_at": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
        "duration_seconds": time.time() - started,
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_start": list(loadavg_start),
            "loadavg_end": list(os.getloadavg()),
            "other_processes_cpu_seconds": foreign_seconds,
            "steal_cpu_seconds": steal_seconds,
            "python": platform.python_version(),
            "platform": platform.platform(),
            **_versions(),
        },
        "placement": ctx.cores.note,
        "logs": str(log_dir),
        "sections": sections,
    }
    results["targets"] = evaluate(size, sections)
    write_json(results, args.output)
    print(render(results))
    print(f"\nresults: {args.output}")
    failed = [name for name, section in sections.items() if "error" in section]
    if failed:
        print(f"sections that failed: {', '.join(failed)} (tracebacks in the JSON)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
