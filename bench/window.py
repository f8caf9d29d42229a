"""The measurement window every load job shares: warm up, mark "start", measure, mark "end".

The parent process reads the server's CPU time when each mark arrives, so the CPU figures and the request
counts cover the same interval.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .stats import latency_summary_ms

Mark = Callable[[str], None]


@dataclass
class Window:
    """Times in time.perf_counter_ns(); `measuring` is True between the two marks."""

    warmup: float
    seconds: float
    start_ns: int = 0
    end_ns: int = 0
    measuring: bool = False
    ended: bool = False

    async def run(self, mark: Mark) -> None:
        """Runs the timer: sleeps through the warm-up, marks start, sleeps through the window, marks end."""
        await asyncio.sleep(self.warmup)
        self.start_ns = time.perf_counter_ns()
        self.measuring = True
        mark("start")
        await asyncio.sleep(self.seconds)
        self.end_ns = time.perf_counter_ns()
        self.measuring = False
        self.ended = True
        mark("end")

    @property
    def elapsed(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9


@dataclass
class ClosedLoopResult:
    done: int = 0
    errors: int = 0
    latencies_ns: list[int] = field(default_factory=list)
    first_error: str = ""

    def summary(self, elapsed: float) -> dict[str, object]:
        return {
            "requests": self.done,
            "errors": self.errors,
            "seconds": elapsed,
            "rps": self.done / elapsed if elapsed > 0 else 0.0,
            **latency_summary_ms(self.latencies_ns),
            "first_error": self.first_error,
        }


async def closed_loop(
    call: Callable[[int], Awaitable[bool]], concurrency: int, window: Window, mark: Mark
) -> dict[str, object]:
    """`concurrency` loops, each awaiting call(i) back to back until the window ends.

    A call counts when it completes inside the window; call returns False (or raises) for an error.
    """
    result = ClosedLoopResult()
    timer = asyncio.create_task(window.run(mark))

    async def loop(offset: int) -> None:
        i = offset
        while not window.ended:
            started = time.perf_counter_ns()
            try:
                ok = await call(i)
            except Exception as exc:  # noqa: BLE001 - counted and reported, the load goes on
                ok = False
                if not result.first_error:
                    result.first_error = f"{type(exc).__name__}: {exc}"[:300]
            if window.measuring:
                if ok:
                    result.done += 1
                    result.latencies_ns.append(time.perf_counter_ns() - started)
                else:
                    result.errors += 1
            i += concurrency

    await asyncio.gather(*(loop(n) for n in range(concurrency)))
    await timer
    return result.summary(window.elapsed)
