"""Benchmark: worker fetches per second against the embedded TaskRouter emulator.

The emulator runs in this process (as the gateway embeds it); a separate process (multiprocessing) drives
GET /v1/Workspaces/{ws}/Workers/{sid} over keep-alive connections, so the emulator's CPU figure is its own.
Prints fetches/s, the emulator's CPU% (of one core) and RSS; then creates workers up to 15,000 (the
TaskRouter limit) and prints the RSS again, plus a second fetch run at that size.

    .venv/bin/python bench/emulator_fetch.py [--seconds 5] [--concurrency 32] [--workers 15000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing
import random
import time
from multiprocessing.connection import Connection

import aiohttp
import psutil

from taskrouter_emulator.config import EmulatorConfig
from taskrouter_emulator.server import RunningEmulator, start_emulator


def _auth_header(config: EmulatorConfig) -> dict[str, str]:
    token = base64.b64encode(f"{config.account_sid}:{config.auth_token}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def _drive(urls: list[str], headers: dict[str, str], seconds: float, concurrency: int) -> tuple[int, int, float]:
    done = errors = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def loop(offset: int) -> None:
            nonlocal done, errors
            i = offset
            while time.perf_counter() < deadline:
                async with session.get(urls[i % len(urls)]) as response:
                    await response.read()
                    if response.status == 200:
                        done += 1
                    else:
                        errors += 1
                i += concurrency

        started = time.perf_counter()
        await asyncio.gather(*(loop(n) for n in range(concurrency)))
        return done, errors, time.perf_counter() - started


def _client_main(conn: Connection, urls: list[str], headers: dict[str, str], seconds: float, concurrency: int) -> None:
    conn.send("started")  # lets the parent start its CPU clock after this process's own start-up
    conn.send(asyncio.run(_drive(urls, headers, seconds, concurrency)))
    conn.close()


async def _create_workers(emulator: RunningEmulator, count: int, start: int) -> list[str]:
    config = emulator.config
    url = f"{emulator.base_url}/v1/Workspaces/{config.default_workspace_sid}/Workers"
    sids: list[str] = []
    async with aiohttp.ClientSession(headers=_auth_header(config)) as session:
        sem = asyncio.Semaphore(16)

        async def create(n: int) -> None:
            attributes = f'{{"skills": ["support", "sales"], "languages": ["english"], "level": {n % 10}}}'
            async with sem, session.post(url, data={"FriendlyName": f"bench-{n}", "Attributes": attributes}) as r:
                body = await r.json()
                if r.status != 201:
                    raise RuntimeError(f"creating worker {n}: {r.status} {body}")
                sids.append(body["sid"])

        await asyncio.gather(*(create(n) for n in range(start, start + count)))
    return sids


async def _measure(emulator: RunningEmulator, sids: list[str], seconds: float, concurrency: int) -> None:
    config = emulator.config
    urls = [f"{emulator.base_url}/v1/Workspaces/{config.default_workspace_sid}/Workers/{sid}" for sid in sids]
    random.shuffle(urls)
    me = psutil.Process()
    parent, child = multiprocessing.Pipe(duplex=False)
    proc = multiprocessing.get_context("spawn").Process(
        target=_client_main, args=(child, urls[:2000], _auth_header(config), seconds, concurrency)
    )
    proc.start()
    # Wait off the event loop: the emulator must keep serving while we wait for the client.
    await asyncio.to_thread(parent.recv)
    cpu_before = me.cpu_times()
    wall_before = time.perf_counter()
    done, errors, elapsed = await asyncio.to_thread(parent.recv)
    cpu_after = me.cpu_times()
    wall = time.perf_counter() - wall_before
    await asyncio.to_thread(proc.join)
    cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    print(
        f"  fetches/s: {done / elapsed:,.0f}  ({done:,} ok, {errors} errors in {elapsed:.1f} s, "
        f"concurrency {concurrency})"
    )
    print(f"  emulator CPU: {100 * cpu / wall:.0f}% of one core   RSS: {me.memory_info().rss / 2**20:.1f} MiB")
    # The client shares the machine; fetches per emulator CPU-second is the one-core capacity, whatever the load.
    print(f"  fetches per emulator CPU-second: {done / cpu:,.0f}" if cpu > 0 else "  (no CPU time measured)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=15_000)
    args = parser.parse_args()

    emulator = await start_emulator(EmulatorConfig(port=0))
    try:
        print(f"emulator at {emulator.base_url}; RSS at start: {psutil.Process().memory_info().rss / 2**20:.1f} MiB")
        sids = await _create_workers(emulator, 100, 0)
        print("100 workers:")
        await _measure(emulator, sids, args.seconds, args.concurrency)
        started = time.perf_counter()
        sids += await _create_workers(emulator, args.workers - len(sids), len(sids))
        print(f"{len(sids):,} workers (created in {time.perf_counter() - started:.1f} s):")
        print(
            f"  RSS with {len(sids):,} workers: {psutil.Process().memory_info().rss / 2**20:.1f} MiB "
            f"(store counts: {emulator.context.store.counts()})"
        )
        await _measure(emulator, sids, args.seconds, args.concurrency)
    finally:
        await emulator.stop()


if __name__ == "__main__":
    asyncio.run(main())
