"""The emulator's clock and its routing timers (task TTL, workflow step timeouts, reservation timeouts).

Real time by default. The admin API can switch to virtual time: the clock then stands still until an
advance, which fires every timer that falls due on the way, in due order, each at its own instant.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field


class VirtualClock:
    """A clock that only moves when told to (POST /admin/clock/advance)."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now


@dataclass(order=True, frozen=True)
class Timer:
    due: float
    seq: int
    kind: str = field(compare=False)  # "ttl", "step" or "reservation"
    workspace_sid: str = field(compare=False)
    sid: str = field(compare=False)  # the task or reservation
    generation: int = field(compare=False, default=0)  # a step timer is stale once the task moved on


class TimerHeap:
    def __init__(self) -> None:
        self._heap: list[Timer] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, due: float, kind: str, workspace_sid: str, sid: str, generation: int = 0) -> Timer:
        self._seq += 1
        timer = Timer(due, self._seq, kind, workspace_sid, sid, generation)
        heapq.heappush(self._heap, timer)
        return timer

    def next_due(self) -> float | None:
        return self._heap[0].due if self._heap else None

    def pop_due(self, now: float) -> Timer | None:
        if self._heap and self._heap[0].due <= now:
            return heapq.heappop(self._heap)
        return None

    def drop_workspace(self, workspace_sid: str) -> None:
        self._heap = [t for t in self._heap if t.workspace_sid != workspace_sid]
        heapq.heapify(self._heap)
