"""Per-queue real-time statistics, fetched in bulk: every request for a queue's figures that misses the cache
joins the next bulk request of its workspace (up to 50 queues each), which is also topped up with the other
queues callers asked about lately, so polled queues are refreshed together and expire together: fifty
callers polling fifty queues cost one upstream request per staleness window. Bulk requests are paced under
TaskRouter's 5 a second per workspace (window.py).

A bulk request fails as a whole when one of its queues is gone; then it is retried without the topped-up
queues, and if it fails again each waiting queue is fetched on its own, so one caller's bad SID never fails
another caller's read.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from .cache import ReadCache
from .keys import tags_for
from .window import RequestWindow

BULK_LIMIT = 50
# Fetches: (workspace, queue sids) -> their figures, in any order, each with .task_queue_sid; and one queue.
FetchBulk = Callable[[str, list[str]], Awaitable[list[Any]]]
FetchOne = Callable[[str, str], Awaitable[Any]]


class QueueStatistics:
    def __init__(self, cache: ReadCache, window: RequestWindow, *, linger_s: float = 0.002,
                 interest_s: float = 10.0, max_interest: int = 1000) -> None:
        self.cache = cache
        self.window = window
        self.linger_s = linger_s
        self.interest_s = interest_s
        self.max_interest = max_interest
        self.bulk_requests = 0
        self.single_requests = 0
        self._waiting: dict[tuple[Hashable, str, str], asyncio.Future[tuple[Any, float]]] = {}
        self._pending: dict[tuple[Hashable, str], list[str]] = {}
        self._flushers: dict[tuple[Hashable, str], asyncio.Task[None]] = {}
        # Per (partition, workspace): queue sid -> when a caller last asked, most recent last.
        self._interest: dict[tuple[Hashable, str], OrderedDict[str, float]] = {}

    @staticmethod
    def key(partition: Hashable, workspace: str, sid: str) -> tuple[Hashable, ...]:
        return (partition, "queue-realtime", workspace, sid)

    async def get(self, partition: Hashable, workspace: str, sids: list[str], max_age: float,
                  fetch_bulk: FetchBulk, fetch_one: FetchOne) -> list[tuple[Any, float]]:
        """(figures, age in seconds, 0 if fetched for this call) for each sid, in order."""
        group = (partition, workspace)
        interest = self._interest.setdefault(group, OrderedDict())
        now = self.cache.clock()
        answers: list[Any] = []
        for sid in sids:
            interest[sid] = now
            interest.move_to_end(sid)
            hit = self.cache.get(self.key(partition, workspace, sid), max_age) if max_age > 0 else None
            if hit is not None:
                answers.append(hit)
                continue
            future = self._waiting.get((partition, workspace, sid))
            if future is None:
                future = asyncio.get_running_loop().create_future()
                self._waiting[(partition, workspace, sid)] = future
                self._pending.setdefault(group, []).append(sid)
            else:
                self.cache.counters.coalesced += 1
            answers.append(future)
        while len(interest) > self.max_interest:
            interest.popitem(last=False)
        if group in self._pending and group not in self._flushers:
            self._flushers[group] = asyncio.create_task(self._flush(group, fetch_bulk, fetch_one))
        results = []
        for answer in answers:
            if isinstance(answer, asyncio.Future):
                value, _sent = await asyncio.shield(answer)
                results.append((value, 0.0))
            else:
                results.append(answer)
        return results

    async def _flush(self, group: tuple[Hashable, str], fetch_bulk: FetchBulk, fetch_one: FetchOne) -> None:
        partition, workspace = group
        try:
            await asyncio.sleep(self.linger_s)  # the requests of the same moment go in one bulk request
            while pending := self._pending.get(group):
                waited, self._pending[group] = pending[:BULK_LIMIT], pending[BULK_LIMIT:]
                if not self._pending[group]:
                    del self._pending[group]
                await self._fetch(partition, workspace, waited, fetch_bulk, fetch_one)
        finally:
            del self._flushers[group]

    def _top_up(self, group: tuple[Hashable, str], waited: list[str]) -> list[str]:
        interest = self._interest.get(group, OrderedDict())
        recent = self.cache.clock() - self.interest_s
        extra = [sid for sid, asked in reversed(interest.items()) if asked >= recent and sid not in waited
                 and (group[0], group[1], sid) not in self._waiting]
        return waited + extra[: BULK_LIMIT - len(waited)]

    async def _fetch(self, partition: Hashable, workspace: str, waited: list[str],
                     fetch_bulk: FetchBulk, fetch_one: FetchOne) -> None:
        group = (partition, workspace)
        sids = self._top_up(group, waited)
        attempts = [sids, waited] if len(sids) > len(waited) else [waited]
        failure: BaseException | None = None
        for attempt in attempts:
            await self.window.acquire(workspace)
            epoch, sent = self.cache.epoch(), self.cache.clock()
            self.bulk_requests += 1
            try:
                figures = await fetch_bulk(workspace, attempt)
            except Exception as exc:
                failure = exc
                for sid in attempt:
                    if sid not in waited:
                        self._interest.get(group, OrderedDict()).pop(sid, None)
                continue
            self._settle(partition, workspace, figures, sent, epoch)
            self._fail(partition, workspace, waited, failure or RuntimeError("bulk answer without the queue"))
            return
        if len(waited) == 1 and failure is not None:
            self._fail(partition, workspace, waited, failure)
            return
        await asyncio.gather(*(self._fetch_one(partition, workspace, sid, fetch_one) for sid in waited))

    async def _fetch_one(self, partition: Hashable, workspace: str, sid: str, fetch_one: FetchOne) -> None:
        epoch, sent = self.cache.epoch(), self.cache.clock()
        self.single_requests += 1
        try:
            figures = await fetch_one(workspace, sid)
        except Exception as exc:
            self._fail(partition, workspace, [sid], exc)
            return
        self._settle(partition, workspace, [figures], sent, epoch)

    def _settle(self, partition: Hashable, workspace: str, figures: list[Any], sent: float,
                epoch: int) -> None:
        for item in figures:
            sid = item.task_queue_sid
            self.cache.put(self.key(partition, workspace, sid), item, fetched_at=sent, size=item.ByteSize(),
                           tags=tags_for(workspace, "TaskQueues", sid, True), epoch=epoch)
            future = self._waiting.pop((partition, workspace, sid), None)
            if future is not None and not future.done():
                future.set_result((item, sent))

    def _fail(self, partition: Hashable, workspace: str, sids: list[str], error: BaseException) -> None:
        """Fails whoever still waits on these sids (after a settle: queues the answer left out)."""
        for sid in sids:
            future = self._waiting.pop((partition, workspace, sid), None)
            if future is not None and not future.done():
                future.set_exception(error)
                future.exception()  # a caller that went away must not leave it unretrieved
