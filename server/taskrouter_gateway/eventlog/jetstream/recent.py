"""What a replica keeps of the stream in memory: its read position and a bounded cache of the newest events.

Nothing here grows with the stream: the position is one integer, the cache holds at most `cache_size`
events. Lookups by time and by sid are answered by the broker (reader.py, since.py), not by a per-event index, so
a replica starts in the same time whether the stream holds a thousand events or hundreds of millions.

Fed in seq order by the replica's one ordered consumer. A seq that skips ahead means the events between
were removed by retention before this replica read them (a replica paused or partitioned for longer than
the stream keeps events): `advance` reports the lost range instead of stalling.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

from ..log import StoredEvent


class RecentEvents:
    def __init__(self, *, position: int, cache_size: int) -> None:
        if cache_size < 1:
            raise ValueError("cache_size must be >= 1")
        self.position = position  # the last seq this replica has read (0: none)
        self._cache: OrderedDict[int, StoredEvent] = OrderedDict()
        self._cache_size = cache_size
        self.lost = 0  # seqs skipped because retention removed them before they were read

    def advance(self, seq: int, event: StoredEvent | None) -> tuple[int, int] | None:
        """Takes the message at `seq` (None: not readable as an event, kept only as a position).

        Returns the (first, last) seqs lost before it, if it skips ahead; ignores a redelivered seq.
        """
        if seq <= self.position:
            return None
        lost = (self.position + 1, seq - 1) if seq > self.position + 1 else None
        if lost is not None:
            self.lost += seq - self.position - 1
            self._cache.clear()  # the cache must stay a contiguous run of seqs for cached_after
        self.position = seq
        if event is not None:  # else a hole: cached_after skips seqs it does not hold
            self._cache[seq] = event
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return lost

    def jump_to(self, seq: int) -> tuple[int, int] | None:
        """The stream no longer holds anything up to `seq` and nothing newer arrived: move past it."""
        if seq <= self.position:
            return None
        lost = (self.position + 1, seq)
        self.lost += seq - self.position
        self.position = seq
        self._cache.clear()
        return lost

    def __len__(self) -> int:
        return len(self._cache)

    def cached(self, seq: int) -> StoredEvent | None:
        return self._cache.get(seq)

    @property
    def cache_first(self) -> int:
        """The oldest seq the cache answers for (position + 1 when empty): every seq from here to the
        position is either cached or held no event."""
        return next(iter(self._cache)) if self._cache else self.position + 1

    def cached_after(self, seq: int, limit: int, workspace_sid: str | None) -> Iterator[StoredEvent]:
        """Cached events with seq > `seq` (which must be >= cache_first - 1), in seq order."""
        taken = 0
        for s in range(max(seq + 1, self.cache_first), self.position + 1):
            event = self._cache.get(s)
            if event is None:
                continue
            if workspace_sid is None or event.workspace_sid == workspace_sid:
                yield event
                taken += 1
                if taken >= limit:
                    return

    def newest_cached(self) -> Iterator[StoredEvent]:
        """Cached events, newest first."""
        return reversed(self._cache.values())

    def drop_before(self, first_seq: int) -> int:
        """Forget cached events the stream no longer holds (retention); returns how many were dropped."""
        dropped = 0
        while self._cache and next(iter(self._cache)) < first_seq:
            self._cache.popitem(last=False)
            dropped += 1
        return dropped
