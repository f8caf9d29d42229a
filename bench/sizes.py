"""The two run sizes. "full" is the one the targets are stated for; "smoke" exercises every code path in
seconds (CI), with counts scaled down, so its figures say nothing about the targets."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Size:
    name: str
    warmup: float  # seconds of load before each measured window
    seconds: float  # each measured window
    repeats: int  # unary windows are repeated this many times, interleaved; the median is reported
    unary_concurrency: tuple[int, ...]
    unary_workers: int  # workers the unary fetches cycle over (all four clients fetch the same ones)
    ingest_concurrency: int
    ingest_pool: int  # distinct presigned callbacks available to one ingest run
    fanout_subscribers: tuple[int, ...]
    fanout_target_subscribers: int  # the count the fan-out target is stated for
    latency_rates: tuple[float, ...]  # callbacks/s of each latency run; the first is the one with the target
    latency_subscribers: int
    latency_seconds: float
    memory_subscribers: int
    memory_workers: int  # workers created in the emulator and listed through the gateway
    list_page_size: int
    emulator_concurrency: int
    event_log_seconds: float
    history_stream_events: tuple[int, int]  # JetStream start-up: the small and the large stream
    history_sqlite_events: int
    history_samples: int  # reads timed per SQLite figure


FULL = Size(
    name="full",
    warmup=1.0,
    seconds=4.0,
    repeats=3,
    unary_concurrency=(1, 50),
    unary_workers=100,
    ingest_concurrency=32,
    ingest_pool=40_000,
    fanout_subscribers=(1, 100, 1000),
    fanout_target_subscribers=100,
    latency_rates=(1000.0, 100.0),
    latency_subscribers=100,
    latency_seconds=5.0,
    memory_subscribers=1000,
    memory_workers=15_000,
    list_page_size=1000,
    emulator_concurrency=32,
    event_log_seconds=2.0,
    history_stream_events=(10_000, 5_000_000),
    history_sqlite_events=5_000_000,
    history_samples=1000,
)

SMOKE = Size(
    name="smoke",
    warmup=0.2,
    seconds=0.5,
    repeats=1,
    unary_concurrency=(1, 8),
    unary_workers=10,
    ingest_concurrency=8,
    ingest_pool=3_000,
    fanout_subscribers=(1, 10),
    fanout_target_subscribers=10,
    latency_rates=(100.0, 20.0),
    latency_subscribers=5,
    latency_seconds=0.5,
    memory_subscribers=20,
    memory_workers=150,
    list_page_size=50,
    emulator_concurrency=8,
    event_log_seconds=0.2,
    history_stream_events=(1_000, 20_000),
    history_sqlite_events=50_000,
    history_samples=100,
)

SIZES = {size.name: size for size in (SMOKE, FULL)}
