"""Dedup beyond the broker's duplicate window, without a per-event index in memory.

The broker stores a msg id (the event sid) once within its duplicate window. An event older than that is
only appended by a backfill (or a replayed callback); dedup_scope reads the workspace's subject from where the
backfill's range starts into an on-disk set, and a lone old event is looked for the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from ..log import NewEvent
from .marks import Lead
from .reader import StreamReader
from .sid_set import SidSet
from .since import SinceFinder


@dataclass(slots=True)
class _Scope:
    """A backfill's dedup scope: every sid of its workspace dated at/after start_ms that the stream holds."""

    start_ms: int
    sids: SidSet
    ready: bool = False


class Deduper:
    def __init__(
        self,
        since: SinceFinder,
        reader: StreamReader,
        lead: Lead,
        *,
        duplicate_window_s: float,
        write_timeout_s: float,
        clock_ms: Callable[[], int],
    ) -> None:
        self._since = since
        self._reader = reader
        self._lead = lead
        self._duplicate_window_s = duplicate_window_s
        self._write_timeout = write_timeout_s
        self._clock_ms = clock_ms
        self._scopes: dict[str, list[_Scope]] = {}

    def beyond_broker_dedup(self, ev: NewEvent) -> bool:
        """Whether an earlier copy of this event could be older than the broker's duplicate window.

        A copy was stored no earlier than its date minus the lead; the broker remembers msg ids for the window.
        """
        horizon = self._clock_ms() - int(self._duplicate_window_s * 1000)
        return self._lead.earliest_stored_ms(ev.event_date_ms) - int(self._write_timeout * 1000) < horizon

    async def find_stored(self, events: list[NewEvent]) -> dict[str, int]:
        """sid -> seq of those of `events` the stream already holds, found without a per-event index: in a
        backfill's dedup scope, else by reading the workspace's subject from the event's date on."""
        found: dict[str, int] = {}
        lookups: dict[str, list[NewEvent]] = {}
        scoped: dict[int, tuple[_Scope, list[str]]] = {}  # by id(scope): one on-disk lookup per scope
        for ev in events:
            scope = next((s for s in self._scopes.get(ev.workspace_sid, ())
                          if s.ready and ev.event_date_ms >= s.start_ms), None)
            if scope is not None:
                scoped.setdefault(id(scope), (scope, []))[1].append(ev.sid)
            else:
                lookups.setdefault(ev.workspace_sid, []).append(ev)
        for scope, sids in scoped.values():
            found.update(await asyncio.to_thread(scope.sids.seqs_of, sids))
        for workspace_sid, evs in lookups.items():
            wanted = {ev.sid for ev in evs}
            after, last = await self._since.since(min(ev.event_date_ms for ev in evs))
            async with contextlib.aclosing(self._reader.scan(after, last, workspace_sid)) as scanned:
                async for stored in scanned:
                    if stored.sid in wanted:
                        found[stored.sid] = stored.seq
                        wanted.discard(stored.sid)
                        if not wanted:
                            break
        return found

    async def learn(self, published: list[tuple[str, str, int]]) -> None:
        """Open scopes learn what this replica stored: (workspace, sid, seq) triples."""
        for workspace_sid in {ws for ws, _, _ in published}:
            pairs = [(sid, seq) for ws, sid, seq in published if ws == workspace_sid]
            # A copy: a scope that ends during an await here must not make the loop skip the one after it.
            for scope in list(self._scopes.get(workspace_sid, ())):
                await asyncio.to_thread(scope.sids.add, pairs)

    @contextlib.asynccontextmanager
    async def scope(self, workspace_sid: str, start_ms: int) -> AsyncIterator[None]:
        """Reads the workspace's subject from where `start_ms` begins into an on-disk set: memory stays bounded
        whatever the backfill's range, and the stream is read once per backfill, not once per event."""
        scope = _Scope(start_ms, SidSet())
        # Registered first, so events this replica appends meanwhile are added as they are acked.
        self._scopes.setdefault(workspace_sid, []).append(scope)
        try:
            after, last = await self._since.since(start_ms)
            batch: list[tuple[str, int]] = []
            async with contextlib.aclosing(self._reader.scan(after, last, workspace_sid)) as scanned:
                async for stored in scanned:
                    if stored.event_date_ms >= start_ms:
                        batch.append((stored.sid, stored.seq))
                        if len(batch) >= 1000:
                            await asyncio.to_thread(scope.sids.add, batch)
                            batch = []
            await asyncio.to_thread(scope.sids.add, batch)
            scope.ready = True
            yield
        finally:
            self._scopes[workspace_sid].remove(scope)
            if not self._scopes[workspace_sid]:
                del self._scopes[workspace_sid]
            await asyncio.to_thread(scope.sids.close)
