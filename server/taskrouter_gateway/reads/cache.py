"""A bounded cache of read answers, least recently used first out, with tags to drop answers by.

An answer's age counts from when the request that fetched it was sent, so an answer served within a caller's
bound is never older than the bound, whatever the event stream does: events only end answers early. Bounded
in entries and in bytes (each answer's serialized size); counts what it does for /metrics.
"""

from __future__ import annotations

import bisect
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .keys import Key, Tag

# Age of served answers, in seconds: the histogram's upper bounds (cumulative counts kept here, not in
# prometheus_client, so a hit costs a bisect and an increment).
AGE_BUCKETS = (0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)


@dataclass(slots=True)
class CacheCounters:
    hits: int = 0
    misses: int = 0
    coalesced: int = 0
    invalidations: int = 0  # answers dropped by an event or a write
    evictions: int = 0  # answers dropped to stay within the bounds
    not_stored: int = 0  # answers fetched while an event or a write dropped one of their tags
    age_counts: list[int] = field(default_factory=lambda: [0] * (len(AGE_BUCKETS) + 1))
    age_sum: float = 0.0


@dataclass(slots=True)
class Entry:
    value: Any
    fetched_at: float  # monotonic time the fetching request was sent
    size: int
    tags: tuple[Tag, ...]


class ReadCache:
    def __init__(self, *, max_entries: int = 10_000, max_bytes: int = 64 << 20,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("max_entries and max_bytes must be >= 1")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.clock = clock
        self.counters = CacheCounters()
        self.bytes = 0
        self._entries: OrderedDict[Key, Entry] = OrderedDict()
        self._tagged: dict[Tag, set[Key]] = {}
        # When each tag was last dropped (a count of drops): a fetch that started before one of its own tags
        # was dropped stores nothing, as its answer may predate the change. Forgotten wholesale past a bound,
        # which fails the puts of fetches then in flight (they are fetched again), never keeps a stale one.
        self._drops = 0
        self._dropped: dict[Tag, int] = {}
        self._forgotten_at = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Key, max_age: float) -> tuple[Any, float] | None:
        """(answer, age in seconds) if one no older than max_age is held, else None (counted as a miss)."""
        entry = self._entries.get(key)
        if entry is not None:
            age = self.clock() - entry.fetched_at
            if age <= max_age:
                self._entries.move_to_end(key)
                counters = self.counters
                counters.hits += 1
                counters.age_sum += age
                counters.age_counts[bisect.bisect_left(AGE_BUCKETS, age)] += 1
                return entry.value, age
        self.counters.misses += 1
        return None

    def epoch(self) -> int:
        """Taken before a fetch, given back to put()."""
        return self._drops

    def _changed_since(self, epoch: int, tags: tuple[Tag, ...]) -> bool:
        if epoch < self._forgotten_at:
            return True
        dropped = self._dropped
        return any(dropped.get(tag, -1) >= epoch for tag in tags)

    def put(self, key: Key, value: Any, *, fetched_at: float, size: int, tags: tuple[Tag, ...],
            epoch: int | None = None) -> bool:
        """Keeps `value` unless one of its tags was dropped since `epoch` (taken before the fetch), or it
        alone exceeds the byte bound. Returns whether it was kept."""
        if (epoch is not None and self._changed_since(epoch, tags)) or size > self.max_bytes:
            self.counters.not_stored += 1
            return False
        self._remove(key)
        self._entries[key] = Entry(value, fetched_at, size, tags)
        self.bytes += size
        for tag in tags:
            self._tagged.setdefault(tag, set()).add(key)
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            oldest = next(iter(self._entries))
            self._remove(oldest)
            self.counters.evictions += 1
        return True

    def holds(self, tag: Tag) -> bool:
        return bool(self._tagged.get(tag))

    def drop(self, tags: Iterable[Tag]) -> int:
        """Drops every answer carrying any of `tags`; returns how many."""
        dropped = 0
        marks = self._dropped
        if len(marks) > 4 * self.max_entries + 1024:
            marks.clear()
            self._forgotten_at = self._drops + 1
        for tag in tags:
            marks[tag] = self._drops
            for key in list(self._tagged.get(tag, ())):
                if self._remove(key):
                    dropped += 1
        self._drops += 1
        self.counters.invalidations += dropped
        return dropped

    def clear(self) -> None:
        """Drops everything (events were lost: any answer may be out of date)."""
        self._dropped.clear()
        self._forgotten_at = self._drops + 1
        self._drops += 1
        self.counters.invalidations += len(self._entries)
        self._entries.clear()
        self._tagged.clear()
        self.bytes = 0

    def _remove(self, key: Key) -> bool:
        entry = self._entries.pop(key, None)
        if entry is None:
            return False
        self.bytes -= entry.size
        for tag in entry.tags:
            keys = self._tagged.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._tagged[tag]
        return True
