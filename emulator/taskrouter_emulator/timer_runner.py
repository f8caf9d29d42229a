"""Fires routing timers in real time: sleeps until the next one is due (or a new one is scheduled)."""

from __future__ import annotations

import asyncio
import structlog

from .store import Store

log = structlog.get_logger(__name__)


class TimerRunner:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._store.timer_wakeup = self.wake
        self._task = asyncio.get_running_loop().create_task(self._run(), name="routing-timers")

    async def close(self) -> None:
        self._store.timer_wakeup = None
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        store = self._store
        while True:
            self._wake.clear()
            timeout: float | None = None
            if not store.virtual_time:  # virtual time moves only through POST /admin/clock/advance
                try:
                    store.fire_due_timers()
                except Exception:  # a bug in one timer must not stop the others
                    log.exception("routing_timer_failed")
                due = store.timers.next_due()
                timeout = None if due is None else max(0.0, due - store.clock())
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass
