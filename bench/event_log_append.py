"""Benchmark: event log appends per second from concurrent appenders, synchronous=FULL vs NORMAL.

Each appender awaits one single-event append at a time, as a webhook handler does. Printed per mode:
appends/s, transactions, events per transaction, and the ratio against the ceiling measured in the same run
on the same disk: raw fsyncs/s, i.e. what one-fsync-per-append could reach at best. A FULL run with
max_batch=1 (group commit off) shows what batching buys.

    .venv/bin/python bench/event_log_append.py [--seconds 2] [--concurrency 50] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from taskrouter_gateway.eventlog.log import NewEvent
from taskrouter_gateway.eventlog.sqlite.log import SqliteEventLog

PAYLOAD = bytes(300)  # about the size of a serialized TaskRouter Event


def fsyncs_per_second(directory: Path, seconds: float) -> float:
    """The ceiling: 4 KiB overwrite + fdatasync in a loop, as a WAL commit per append would cost at best.

    The file is preallocated and overwritten in place, like SQLite's reused WAL, so no metadata is synced.
    """
    path = directory / "fsync-probe"
    slots = 256
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        block = bytes(4096)
        for _ in range(slots):
            os.write(fd, block)
        os.fsync(fd)
        done = 0
        deadline = time.perf_counter() + seconds
        started = time.perf_counter()
        while time.perf_counter() < deadline:
            os.pwrite(fd, block, (done % slots) * 4096)
            os.fdatasync(fd)
            done += 1
        return done / (time.perf_counter() - started)
    finally:
        os.close(fd)
        path.unlink()


async def appends_per_second(
    path: Path, synchronous: str, max_batch: int, concurrency: int, seconds: float
) -> tuple[float, int, int]:
    log = SqliteEventLog(path, synchronous=synchronous, max_batch=max_batch)  # type: ignore[arg-type]
    await log.open()
    deadline = time.perf_counter() + seconds

    async def appender(k: int) -> None:
        i = 0
        while time.perf_counter() < deadline:
            sid = f"EV{k:04d}{i:028d}"
            await log.append(
                [NewEvent(sid, "WS" + "1" * 32, "reservation.created", "WR" + "2" * 32, 1_760_000_000_000 + i, PAYLOAD)]
            )
            i += 1

    started = time.perf_counter()
    await asyncio.gather(*(appender(k) for k in range(concurrency)))
    elapsed = time.perf_counter() - started
    stats = log.stats
    await log.close()
    return stats.appended / elapsed, stats.appended, stats.commits


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0, help="per run")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where the database files go (a real disk)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        directory = Path(tmp)
        ceiling = fsyncs_per_second(directory, args.seconds)
        print(f"ceiling: {ceiling:,.0f} fsyncs/s on {args.dir} (one fsync per append could reach at most this)")
        runs = [("FULL", 1000, "group commit"), ("FULL", 1, "group commit off"), ("NORMAL", 1000, "group commit")]
        for n, (mode, max_batch, label) in enumerate(runs):
            rate, appended, commits = await appends_per_second(
                directory / f"events-{n}.db", mode, max_batch, args.concurrency, args.seconds
            )
            print(
                f"{mode:<6} {label:<16} {args.concurrency} appenders: {rate:>9,.0f} appends/s"
                f"  ({appended:,} events in {commits:,} transactions, {appended / max(commits, 1):.1f} per commit)"
                f"  = {rate / ceiling:.2f}x the fsync ceiling"
            )


if __name__ == "__main__":
    asyncio.run(main())
