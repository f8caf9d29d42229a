"""At most `limit` requests in any `period` seconds per key: TaskRouter's documented rates, kept on this side so
its 429s never happen (the bulk real-time statistics endpoint allows 5 a second per workspace)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable


class RequestWindow:
    def __init__(self, limit: int, period_s: float = 1.0, *, margin_s: float = 0.05,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        """`margin_s` widens the window: TaskRouter counts a request when it arrives, a little after it is sent."""
        if limit < 1 or period_s <= 0:
            raise ValueError("limit must be >= 1 and period_s > 0")
        self.limit = limit
        self.period = period_s + margin_s
        self.clock = clock
        self.sleep = sleep
        self.waits = 0  # requests that had to wait for a slot
        self._sent: dict[Hashable, deque[float]] = {}

    async def acquire(self, key: Hashable) -> None:
        """Returns when a request for `key` may be sent, and counts it as sent."""
        sent = self._sent.setdefault(key, deque())
        while True:
            now = self.clock()
            while sent and sent[0] <= now - self.period:
                sent.popleft()
            if len(sent) < self.limit:
                sent.append(now)
                return
            self.waits += 1
            # Pacing, not synchronisation: the slot frees at a known time.
            await self.sleep(sent[0] + self.period - now)
