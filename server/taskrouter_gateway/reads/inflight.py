"""Identical concurrent reads share one request: the first caller fetches, in its own task (so the "rpc" line,
the span and the deadline are its own), and every caller with the same key that arrives meanwhile awaits its
outcome, answer or error. If the first caller goes away its fetch is cancelled, and a waiting caller fetches
in its place: nobody is failed by another caller's cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any


class Inflight:
    def __init__(self) -> None:
        self._fetches: dict[Hashable, asyncio.Future[Any]] = {}

    def __len__(self) -> int:
        return len(self._fetches)

    async def run(self, key: Hashable, fetch: Callable[[], Awaitable[Any]]) -> tuple[Any, bool]:
        """(answer, shared): shared is True when another caller's request answered this one."""
        while (pending := self._fetches.get(key)) is not None:
            try:
                return await asyncio.shield(pending), True
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if pending.cancelled() and not (task is not None and task.cancelling()):
                    continue  # the fetching caller went away, not this one: fetch in its place
                raise
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._fetches[key] = future
        try:
            answer = await fetch()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: with nobody waiting it must not be reported as lost
            raise
        finally:
            if self._fetches.get(key) is future:
                del self._fetches[key]
        future.set_result(answer)
        return answer, False
