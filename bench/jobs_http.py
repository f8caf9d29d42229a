"""Raw-HTTP load jobs: a closed loop over prebuilt requests, and the event-callback poster of the fan-out runs.

Run inside a LoadAgent (see agent.py).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from . import agent
from .callbacks import CallbackSigner
from .rawhttp import Connection, build_request
from .window import ClosedLoopResult, Mark, Window


async def _open(host: str, port: int, count: int) -> list[Connection]:
    return list(await asyncio.gather(*(Connection.open(host, port) for _ in range(count))))


async def closed_loop_requests(
    mark: Mark, shared: Any, *, host: str, port: int, requests: list[bytes], concurrency: int, warmup: float,
    seconds: float, ok_status: int, cycle: bool,
) -> dict[str, object]:
    """`concurrency` connections, each sending the next request of the pool as soon as its last one returned.

    cycle=False: every request is sent at most once (callbacks must stay distinct); if the pool runs out
    the window ends early and the rate is taken over the shortened window.
    """
    connections = await _open(host, port, concurrency)
    window = Window(warmup, seconds)
    result = ClosedLoopResult()
    next_index = 0
    exhausted = asyncio.Event()
    timer = asyncio.create_task(window.run(mark))

    async def loop(conn: Connection) -> None:
        nonlocal next_index
        while not window.ended and not exhausted.is_set():
            if next_index >= len(requests):
                if not cycle:
                    exhausted.set()
                    return
                next_index = 0
            request = requests[next_index]
            next_index += 1
            started = time.perf_counter_ns()
            try:
                status = await conn.send(request)
            except Exception as exc:  # noqa: BLE001 - a dead connection ends this loop, reported below
                result.first_error = result.first_error or f"{type(exc).__name__}: {exc}"
                result.errors += 1
                return
            if window.measuring:
                if status == ok_status:
                    result.done += 1
                    result.latencies_ns.append(time.perf_counter_ns() - started)
                else:
                    result.errors += 1
                    result.first_error = result.first_error or f"HTTP {status}"

    await asyncio.gather(*(loop(conn) for conn in connections))
    if exhausted.is_set() and not window.ended:
        timer.cancel()
        end = time.perf_counter_ns()
        if not window.measuring:
            raise RuntimeError(f"the pool of {len(requests)} requests ran out during the warm-up")
        window.end_ns, window.measuring = end, False
        mark("end")
    else:
        await timer
    for conn in connections:
        conn.close()
    summary = result.summary(window.elapsed)
    summary["pool_exhausted"] = exhausted.is_set()
    return summary


async def get_requests_loop(
    mark: Mark, shared: Any, *, host: str, port: int, paths: list[str], authorization: str, concurrency: int,
    warmup: float, seconds: float,
) -> dict[str, object]:
    """GETs cycling over `paths` with keep-alive: the emulator's own fetch rate, with a client cheap enough
    that the emulator, not the client, is what saturates."""
    requests = [
        build_request(
            "GET", path, f"{host}:{port}", headers=(("Authorization", authorization), ("Accept", "application/json"))
        )
        for path in paths
    ]
    return await closed_loop_requests(
        mark, shared, host=host, port=port, requests=requests, concurrency=concurrency, warmup=warmup,
        seconds=seconds, ok_status=200, cycle=True,
    )


async def signed_callbacks_loop(
    mark: Mark, shared: Any, *, webhook_url: str, auth_token: str, account_sid: str, workspace_sid: str,
    run_tag: int, pool: int, concurrency: int, warmup: float, seconds: float, cycle: bool = False,
    send_to: str = "",
) -> dict[str, object]:
    """Distinct signed callbacks (signed here, before the clock starts) as fast as they are answered.

    cycle=True reuses the pool when it runs out: only for a server that does not de-duplicate (the ceiling).
    send_to "host:port": signed for webhook_url (a load balancer's), sent to this replica instead.
    """
    signer = CallbackSigner(webhook_url, auth_token, account_sid, workspace_sid, run_tag)
    started = time.perf_counter()
    requests = signer.pool(pool)
    signing_seconds = time.perf_counter() - started
    host, _, port = (send_to or webhook_url.split("/")[2]).partition(":")
    summary = await closed_loop_requests(
        mark, shared, host=host, port=int(port), requests=requests, concurrency=concurrency, warmup=warmup,
        seconds=seconds, ok_status=204, cycle=cycle,
    )
    summary["pool"] = pool
    summary["presign_seconds"] = signing_seconds
    return summary


async def post_callbacks(
    mark: Mark, shared: Any, *, webhook_url: str, auth_token: str, account_sid: str, workspace_sid: str,
    run_tag: int, subscribers: int, mode: str, connections: int, window_events: int = 0, rate: float = 0.0,
    pool: int = 0, primer_interval: float = 0.01, send_to: str = "",
) -> dict[str, object]:
    """Feeds a fan-out run through the webhook, until the parent sets shared[STOP_POSTER].

    First, primers: one callback every `primer_interval` until all `subscribers` have received one (their
    streams are then registered and live). Then, by `mode`:
      "primer"   - nothing more (memory runs);
      "windowed" - closed loop on `connections`, never more than `window_events` ahead of the slowest
                   subscriber (so no buffer overflows: the rate is what the gateway sustains);
      "rate"     - open loop at `rate` callbacks/s for at most `pool` callbacks, each stamped with
                   time.time_ns() just before it is written (latency runs).
    Requests are signed just in time in the first two modes, beforehand in "rate".
    """
    signer = CallbackSigner(webhook_url, auth_token, account_sid, workspace_sid, run_tag)
    host, _, port = (send_to or webhook_url.split("/")[2]).partition(":")
    conns = await _open(host, int(port), connections)
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for conn in conns:
        idle.put_nowait(conn)
    errors: list[str] = []
    sent_ns: dict[int, int] = {}
    in_flight: set[asyncio.Task[None]] = set()
    index = 0

    async def send(conn: Connection, i: int, request: bytes) -> None:
        try:
            stamp = time.time_ns()
            reply = conn.send(request)
            sent_ns[i] = stamp
            status = await reply
            if status != 204:
                errors.append(f"HTTP {status} for callback {i}")
        except Exception as exc:  # noqa: BLE001 - reported with the result; the run goes on
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            idle.put_nowait(conn)

    def fire(conn: Connection, i: int, request: bytes) -> None:
        task = asyncio.create_task(send(conn, i, request))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)

    def stopped() -> bool:
        return bool(shared[agent.STOP_POSTER])

    prebuilt: list[bytes] = signer.pool(pool, start=0) if mode == "rate" else []
    primer_base = len(prebuilt)  # primers come after the prebuilt pool so their indices never collide
    while shared[agent.LIVE] < subscribers and not stopped():
        conn = await idle.get()
        fire(conn, primer_base + index, signer.request(primer_base + index))
        index += 1
        await asyncio.sleep(primer_interval)
    primers = index
    index = primer_base + primers
    mark("live")

    if mode == "windowed":
        while not stopped():
            if index > shared[agent.MIN_INDEX] + window_events:
                await asyncio.sleep(0.0005)
                continue
            conn = await idle.get()
            fire(conn, index, signer.request(index))
            index += 1
    elif mode == "rate":
        started = time.perf_counter()
        for i in range(len(prebuilt)):
            if stopped():
                break
            due = started + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            conn = await idle.get()
            fire(conn, i, prebuilt[i])
        mark("sent")
    while not stopped():
        await asyncio.sleep(0.005)
    if in_flight:
        await asyncio.wait(in_flight, timeout=10)
    for conn in conns:
        conn.close()
    return {
        "primers": primers,
        "posted": len(sent_ns),
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
        "sent_ns": [sent_ns.get(i, 0) for i in range(len(prebuilt))] if mode == "rate" else [],
    }
