"""Event history at production size: what a big log costs at start-up and on the read paths.

JetStream, one nats-server node started here: the gateway CLI's start-up time (spawn to its banner, printed
right after its "gateway started" log line) and its RSS then, on an empty stream, a small one and a large one
(full: 10,000 and 5 million events; smoke: 1,000 and 20,000). The events are ~1.3 kB records of a signed
reservation.created callback in the gateway's own message layout (jetstream_codec.encode, subject_for),
published straight to the stream with Nats-Msg-Id = sid, many in flight. The gateway itself creates the stream
(its first start, on the empty stream), so the stream is configured exactly as the gateway wants it. This node
runs without `sync_interval: always`: the bench's events are generated, not acknowledged to anyone, and
start-up reads do not depend on it. A start that fails is reported with the last line the gateway wrote.

SQLite at 5 million events (smoke: 50,000) spread over 30 days, written straight into a file with the log's
own schema (SqliteEventLog creates it, then bulk inserts with synchronous=OFF), then in this process:
open(); `since` an hour ago to the first page of 100 events; cursor resume (read_after of 100 events at
random cursors); get(sid) at random sids; and the longest append latency of a steady stream of single-event
appends (one task, synchronous=FULL) while prune() removes the oldest 10%.

All generated data lives under the run's work directory and is deleted before the section returns.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from taskrouter_gateway.eventlog import records

from taskrouter_gateway.eventlog.jetstream import codec as jetstream_codec
from taskrouter_gateway.eventlog.log import DAY_MS, NewEvent, Retention
from taskrouter_gateway.eventlog.sqlite.log import SqliteEventLog

from .. import procs
from ..callbacks import callback_params
from ..context import RunContext
from ..stats import percentile

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))  # the nats-server helpers tests use
from natsutil import NatsNode, wait_for  # noqa: E402

START_TIMEOUT_S = 180.0  # a start that takes longer is reported as failed
STREAM = "BENCH_HISTORY"
PREFIX = "taskrouter.events"  # the gateway's default subject prefix
SPAN_MS = 30 * DAY_MS
HOUR_MS = 3_600_000
PRUNE_FRACTION = 0.10
PAGE = 100
WINDOW = 4096  # publishes in flight
WORKSPACES = 4
EVENT_TYPES = ("reservation.created", "reservation.accepted", "task.created", "worker.activity.update",
               "task.completed", "reservation.wrapup")


class _Payloads:
    """A signed reservation.created callback's record (~1.3 kB) with this event's sid and timestamp, made by
    filling a template: orjson per event would dominate generating millions."""

    def __init__(self, workspace_sid: str) -> None:
        params = callback_params("AC" + "a" * 32, workspace_sid, 0, 0, 0)
        params.update(Sid="@SID@", TimestampMs="@MS@", Timestamp="@S@")
        template = records.CALLBACK + orjson.dumps(params)
        template = template.replace(b"%", b"%%")
        self._template = (
            template.replace(b"@SID@", b"%(sid)s").replace(b"@MS@", b"%(ms)d").replace(b"@S@", b"%(s)d")
        )

    def __call__(self, sid: str, date_ms: int) -> bytes:
        return self._template % {b"sid": sid.encode(), b"ms": date_ms, b"s": date_ms // 1000}


def _workspaces(first: str) -> list[str]:
    return [first, *(f"WS{n:032x}" for n in range(1, WORKSPACES))]


def _event(rng: random.Random, payloads: dict[str, _Payloads], workspaces: list[str], date_ms: int) -> NewEvent:
    sid = f"EV{rng.getrandbits(128):032x}"
    workspace = workspaces[rng.randrange(len(workspaces))]
    return NewEvent(sid, workspace, EVENT_TYPES[rng.randrange(len(EVENT_TYPES))], f"WR{rng.getrandbits(128):032x}",
                    date_ms, payloads[workspace](sid, date_ms))


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50_ms": percentile(ordered, 0.5) * 1000, "p99_ms": percentile(ordered, 0.99) * 1000,
            "max_ms": ordered[-1] * 1000, "over_100ms": sum(1 for v in ordered if v > 0.1)}


# -- SQLite ------------------------------------------------------------------------------------------------


def generate_sqlite(path: Path, count: int, now_ms: int, rng: random.Random) -> None:
    """`count` events received evenly over the 30 days before now_ms, written with the log's own schema."""
    asyncio.run(_create_schema(path))
    workspaces = _workspaces(f"WS{0:032x}")
    payloads = {ws: _Payloads(ws) for ws in workspaces}
    start = now_ms - SPAN_MS
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=DELETE")  # out of WAL, so the bulk load is written once
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-1000000")  # 1 GB: the random sid index stays in memory
        total = 0
        batch = 200_000
        for low in range(1, count + 1, batch):
            rows = []
            for seq in range(low, min(low + batch, count + 1)):
                received = start + (seq - 1) * (SPAN_MS - 60_000) // count
                ev = _event(rng, payloads, workspaces, received - rng.randrange(5_000))
                total += len(ev.payload)
                rows.append((seq, ev.sid, ev.workspace_sid, ev.event_type, ev.resource_sid, ev.event_date_ms,
                             received, len(ev.payload), ev.payload))
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO events (seq, sid, workspace_sid, event_type, resource_sid, event_date_ms, received_ms,"
                " size, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            conn.execute("COMMIT")
        conn.execute("UPDATE log_state SET last_seq = ?, total_bytes = ? WHERE id = 1", (count, total))
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()
    # On disk before anything is timed: otherwise the log's first fsync would flush gigabytes of this load.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def _create_schema(path: Path) -> None:
    log = SqliteEventLog(path)
    await log.open()
    await log.close()


async def measure_sqlite(path: Path, samples: int, rng: random.Random) -> dict[str, Any]:
    now_ms = time.time_ns() // 1_000_000
    log = SqliteEventLog(path, retention=Retention(max_age_ms=int(SPAN_MS * (1 - PRUNE_FRACTION))))
    started = time.perf_counter()
    await log.open()
    open_s = time.perf_counter() - started
    try:
        first, last = await log.first_seq(), await log.last_seq()
        since, cursor, get = [], [], []
        for _ in range(samples):
            t = time.perf_counter()
            seq = await log.seq_at_or_after(now_ms - HOUR_MS - rng.randrange(60_000))
            page = await log.read_after(seq, limit=PAGE)
            since.append(time.perf_counter() - t)
            if not page:
                raise RuntimeError(f"nothing since an hour ago (seq {seq} of {first}..{last})")
        for _ in range(samples):
            at = rng.randrange(first - 1, last - PAGE)
            t = time.perf_counter()
            page = await log.read_after(at, limit=PAGE)
            cursor.append(time.perf_counter() - t)
            if len(page) != PAGE:
                raise RuntimeError(f"cursor {at}: {len(page)} events, not {PAGE}")
        sids = [(await log.read_after(rng.randrange(first - 1, last), limit=1))[0].sid for _ in range(samples)]
        for sid in sids:
            t = time.perf_counter()
            found = await log.get(sid)
            get.append(time.perf_counter() - t)
            if found is None:
                raise RuntimeError(f"get({sid}) found nothing")
        payloads = _Payloads(f"WS{0:032x}")
        quiet = await _appends_while(log, None, samples, payloads, rng)
        before = log.stats
        prune_started = time.perf_counter()
        removed, during = await _appends_while(log, log.prune(), 0, payloads, rng)
        prune_s = time.perf_counter() - prune_started
        stats = log.stats
        wal = Path(f"{path}-wal")
        wal_mb = wal.stat().st_size / 2**20 if wal.exists() else 0.0
    finally:
        await log.close()
    return {
        "events": last - first + 1,
        "file_gb": path.stat().st_size / 1e9,
        "open_s": open_s,
        "since_hour_ago": _ms(since),
        "cursor_resume": _ms(cursor),
        "get_sid": _ms(get),
        "samples": samples,
        "append_quiet": {**_ms(quiet), "appends": len(quiet)},
        "prune": {
            "removed": removed, "seconds": prune_s, "chunks": stats.prune_chunks - before.prune_chunks,
            "longest_chunk_ms": stats.longest_prune_chunk_ms,
            "append_commits_between_chunks": stats.commits_during_prune - before.commits_during_prune,
            "wal_mb_after": wal_mb,
        },
        "append_during_prune": {**_ms(during), "appends": len(during)},
    }


async def _appends_while(
    log: SqliteEventLog, work: Any, count: int, payloads: _Payloads, rng: random.Random
) -> tuple[Any, list[float]] | list[float]:
    """Single-event appends one after another: `count` of them, or (with `work`) until `work` is done."""
    task = asyncio.ensure_future(work) if work is not None else None  # queued before the first append
    latencies: list[float] = []
    while (task is not None and not task.done()) or (task is None and len(latencies) < count):
        now = time.time_ns() // 1_000_000
        sid = f"EV{rng.getrandbits(128):032x}"
        ev = NewEvent(sid, f"WS{0:032x}", "reservation.created", f"WR{rng.getrandbits(128):032x}", now,
                      payloads(sid, now))
        t = time.perf_counter()
        await log.append([ev])
        latencies.append(time.perf_counter() - t)
    if task is None:
        return latencies
    return await task, latencies


def run_sqlite(ctx: RunContext, directory: Path, count: int, samples: int) -> dict[str, Any]:
    rng = random.Random(17)
    path = directory / "history.sqlite3"
    started = time.perf_counter()
    generate_sqlite(path, count, time.time_ns() // 1_000_000, rng)
    generate_s = time.perf_counter() - started
    os.sched_setaffinity(0, ctx.cores.server)
    try:
        figures = asyncio.run(measure_sqlite(path, samples, rng))
    finally:
        os.sched_setaffinity(0, ctx.cores.load)
        for leftover in directory.glob("history.sqlite3*"):
            leftover.unlink()
    return {**figures, "generate_s": generate_s}


# -- JetStream ---------------------------------------------------------------------------------------------


class _BenchNode(NatsNode):
    """One JetStream node without `sync_interval: always` (see the module docstring)."""

    def write_config(self) -> Path:
        store = self.workdir / self.name / "store"
        store.mkdir(parents=True, exist_ok=True)
        path = self.workdir / f"{self.name}.conf"
        path.write_text("\n".join([
            f"server_name: {self.name}", f"listen: 127.0.0.1:{self.client_port}", f"http: 127.0.0.1:{self.http_port}",
            f'jetstream {{ store_dir: "{store}" }}',
        ]) + "\n")
        return path


def start_gateway(ctx: RunContext, node: NatsNode, events: int, timeout: float) -> dict[str, Any]:
    """Spawns the gateway on the stream, times it to its banner, reads its RSS, stops it."""
    emulator = ctx.ensure_emulator()
    env = procs._python_env({
        "TWILIO_ACCOUNT_SID": emulator.account_sid, "TWILIO_AUTH_TOKEN": emulator.auth_token,
        "TASKROUTER_GATEWAY_TASKROUTER_BASE_URL": emulator.base_url,
        "TASKROUTER_GATEWAY_API_BASE_URL": emulator.base_url, "TASKROUTER_GATEWAY_BACKFILL_ON_START": "false",
    })
    argv = [
        sys.executable, "-m", "taskrouter_gateway.cli", "serve", "--grpc-port", "0", "--webhook-port", "0",
        "--event-backend", "nats", "--nats-url", node.url, "--nats-stream", STREAM, "--log-level", "warning",
    ]
    started = time.perf_counter()
    process = procs.ServerProcess(f"history-{events}", argv, env, ctx.log_dir / f"history-gateway-{events}.log",
                                  ctx.cores.server)
    row: dict[str, Any] = {"events": events}
    try:
        banner = process.wait_line(timeout)
        if banner is not None and banner.startswith("TaskRouter gateway: gRPC on"):
            row.update(started=True, start_s=time.perf_counter() - started, rss_mb=process.rss_bytes() / 2**20)
        else:
            failed_after = time.perf_counter() - started
            last = process.last_log_line()
            if banner is not None:
                reason = f"unexpected banner {banner!r}"
            elif process.exit_code() is None:
                reason = f"no banner within {timeout:.0f} s" + (f"; last log line: {last}" if last else "")
            else:
                reason = f"exited {process.exit_code()}: {last or '(no log output)'}"
            row.update(started=False, start_s=float("inf"), rss_mb=float("inf"), reason=reason,
                       seconds_to_failure=failed_after)
    finally:
        process.stop()
    return row


async def publish(url: str, start: int, stop: int, total: int, workspace_sid: str, rng: random.Random) -> float:
    """Events start..stop-1 of `total`, dated evenly over 30 days; returns events per second."""
    import nats

    workspaces = _workspaces(workspace_sid)
    payloads = {ws: _Payloads(ws) for ws in workspaces}
    now_ms = time.time_ns() // 1_000_000
    nc = await nats.connect(url, pending_size=64 * 2**20)
    state = {"out": 0, "errors": 0, "first_error": b""}
    room = asyncio.Event()
    inbox = nc.new_inbox()

    async def on_ack(msg: Any) -> None:
        state["out"] -= 1
        if b'"error"' in msg.data:
            state["errors"] += 1
            state["first_error"] = state["first_error"] or msg.data
        if state["out"] <= WINDOW // 2:
            room.set()

    sub = await nc.subscribe(inbox, cb=on_ack, pending_msgs_limit=4 * WINDOW)
    began = time.perf_counter()
    try:
        for n in range(start, stop):
            ev = _event(rng, payloads, workspaces, now_ms - SPAN_MS + n * (SPAN_MS - 60_000) // total)
            await nc.publish(jetstream_codec.subject_for(PREFIX, ev), jetstream_codec.encode(ev), reply=inbox,
                             headers={"Nats-Msg-Id": ev.sid})
            state["out"] += 1
            if state["out"] >= WINDOW:
                room.clear()
                await nc.flush()
                await asyncio.wait_for(room.wait(), 60)
        await nc.flush()
        while state["out"] > 0:  # every ack sets `room` now (below the half mark); no await between check and clear
            room.clear()
            await asyncio.wait_for(room.wait(), 120)
    finally:
        await sub.unsubscribe()
        await nc.close()
    if state["errors"]:
        raise RuntimeError(f"{state['errors']} publishes refused, first: {state['first_error']!r}")
    return (stop - start) / (time.perf_counter() - began)


async def stream_messages(url: str) -> int:
    import nats

    nc = await nats.connect(url)
    try:
        return int((await nc.jsm().stream_info(STREAM)).state.messages)
    finally:
        await nc.close()


def run_jetstream(ctx: RunContext, directory: Path, sizes: tuple[int, ...], timeout: float) -> dict[str, Any]:
    emulator = ctx.ensure_emulator()
    node = _BenchNode("history", directory)
    node.start()
    rows: list[dict[str, Any]] = []
    publishing: list[dict[str, Any]] = []
    try:
        assert node.process is not None
        wait_for(node.healthy, 30, "nats-server /healthz")
        os.sched_setaffinity(node.process.pid, ctx.cores.load)
        first = start_gateway(ctx, node, 0, timeout)  # creates the stream, configured as the gateway wants it
        rows.append(first)
        if not first["started"]:
            raise RuntimeError(f"the gateway cannot start on an empty stream: {first['reason']}")
        rng = random.Random(1717)
        have = 0
        for size in sizes:
            per_second = asyncio.run(publish(node.url, have, size, sizes[-1], emulator.workspace_sid, rng))
            held = asyncio.run(stream_messages(node.url))
            if held != size:
                raise RuntimeError(f"the stream holds {held} events, not {size}")
            publishing.append({"events": size, "published": size - have, "per_second": per_second})
            have = size
            rows.append(start_gateway(ctx, node, size, timeout))
        store_gb = sum(f.stat().st_size for f in directory.rglob("*") if f.is_file()) / 1e9
    finally:
        node.stop()
        shutil.rmtree(directory, ignore_errors=True)
    small, large = rows[1], rows[-1]
    return {
        "rows": rows,
        "publishing": publishing,
        "store_gb": store_gb,
        "start_large_s": large["start_s"],
        "rss_growth_mb": large["rss_mb"] - small["rss_mb"],
    }


def run(ctx: RunContext) -> dict[str, Any]:
    size = ctx.size
    directory = ctx.work_dir / "history"
    directory.mkdir(parents=True, exist_ok=True)
    try:
        sqlite = run_sqlite(ctx, directory, size.history_sqlite_events, size.history_samples)
        jetstream = run_jetstream(ctx, directory / "nats", size.history_stream_events, START_TIMEOUT_S)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return {
        "placement": f"gateways and the SQLite log on core {sorted(ctx.cores.server)[0]}; nats-server, the "
        f"publisher and the emulator on core {sorted(ctx.cores.load)[0]}",
        "sqlite": sqlite,
        "jetstream": jetstream,
    }

