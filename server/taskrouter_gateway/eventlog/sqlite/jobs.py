"""What the writer thread is asked to do, and the queue it takes that from.

The queue has one parking spot beside it: a prune paused between chunks (for the checkpointer, or to rest)
waits there, outside the queue, until whoever ends the pause puts it back at the queue's end.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ..log import AppendResult, NewEvent


@dataclass(slots=True)
class Append:
    events: Sequence[NewEvent]
    future: asyncio.Future[list[AppendResult]]  # resolved on its loop, by Writer._answer


@dataclass(slots=True)
class Mark:
    workspace_sid: str
    complete_ms: int
    future: concurrent.futures.Future[int]


@dataclass(slots=True)
class Prune:
    future: concurrent.futures.Future[int]
    keep_from: int | None = None  # first seq to keep by age and row count; fixed on the first chunk
    bytes_to_free: int = 0  # payload bytes still to remove for max_bytes; fixed on the first chunk
    removed: int = 0


class Stop:
    """Closing: what was queued before it is still done; nothing after it is accepted."""


STOP: Final = Stop()

Job = Append | Mark | Prune | Stop


class JobQueue:
    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._parked: Prune | None = None
        self._parked_lock = threading.Lock()

    def put(self, job: Job) -> None:
        self._queue.put(job)

    def get(self) -> Job:
        """The next job, waiting for one."""
        return self._queue.get()

    def poll(self) -> Job | None:
        """The next job, or None if none is queued."""
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return None

    def park(self, job: Prune) -> None:
        with self._parked_lock:
            self._parked = job

    def unpark(self) -> None:
        """Ends a prune's pause (any thread): back to the queue, behind what was queued meanwhile."""
        job = self.take_parked()
        if job is not None:
            self._queue.put(job)

    def take_parked(self) -> Prune | None:
        with self._parked_lock:
            job, self._parked = self._parked, None
        return job
