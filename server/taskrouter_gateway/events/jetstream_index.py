"""A replica's in-memory index of the stream, fed in seq order by its one ordered consumer. Pure, no I/O.

JetStream answers "message at seq" and "next message on a subject" but not "which seq holds sid X" or "first
event dated at/after T" (its own timestamp is the time it received a message, not the event's date). Every
replica reads the whole stream anyway, to feed its fan-out, so it keeps these answers as it goes:

- sid -> seq, for get() and for dedup beyond the broker's duplicate window (a backfilled event older than
  the window is found here and not published again);
- event dates in seq order, with their running maximum: the first event dated at/after T is the first
  position where the running maximum reaches T, and the running maximum never decreases, so a binary search
  over the points where it rises finds it exactly, whatever the order of the dates themselves;
- per workspace, the newest event date (gap backfill starts there);
- the newest events themselves (a bounded cache), so catch-up reads and the fan-out need no broker round trip.

Memory: about 150 bytes per retained event plus the cache; rebuilt from the stream at start-up.
"""

from __future__ import annotations

import bisect
from array import array
from collections import OrderedDict
from collections.abc import Iterator

from .log import StoredEvent

_NEVER = -(2**63)  # the date of a skipped seq: below any T asked for


class StreamIndex:
    def __init__(self, *, first_seq: int, cache_size: int) -> None:
        self.position = first_seq - 1  # the last seq indexed
        self._base = first_seq  # seq of _dates[0]
        self._dates = array("q")
        self._sids: list[str | None] = []  # None once a sid was pruned (the slot keeps positions aligned)
        self._by_sid: dict[str, int] = {}
        self._rise_seq = array("q")  # seqs where the running maximum of dates rises ...
        self._rise_date = array("q")  # ... and its value there
        self._newest: dict[str, int] = {}
        self._cache: OrderedDict[int, StoredEvent] = OrderedDict()
        self._cache_size = cache_size
        self.dropped = 0  # events forgotten through drop_before, in all

    def add(self, event: StoredEvent) -> None:
        seq = event.seq
        if seq <= self.position:
            return  # redelivered after an ordered-consumer reset
        if seq != self.position + 1:
            # Only possible before anything was indexed (the head aged out meanwhile): restart the arrays there.
            if self._dates:
                raise ValueError(f"stream index: seq {seq} after {self.position} leaves a gap")
            self._base = seq
        self.position = seq
        self._dates.append(event.event_date_ms)
        self._sids.append(event.sid)
        self._by_sid.setdefault(event.sid, seq)
        if not self._rise_date or event.event_date_ms > self._rise_date[-1]:
            self._rise_seq.append(seq)
            self._rise_date.append(event.event_date_ms)
        if event.event_date_ms > self._newest.get(event.workspace_sid, -1):
            self._newest[event.workspace_sid] = event.event_date_ms
        self._cache[seq] = event
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def skip(self, seq: int) -> None:
        """A seq holding no readable event (not written by a gateway): keep positions aligned, index nothing."""
        if seq <= self.position:
            return
        if seq != self.position + 1 and not self._dates:
            self._base = seq
        elif seq != self.position + 1:
            raise ValueError(f"stream index: seq {seq} after {self.position} leaves a gap")
        self.position = seq
        self._dates.append(_NEVER)
        self._sids.append(None)

    def seq_of(self, sid: str) -> int | None:
        return self._by_sid.get(sid)

    def first_dated_at_or_after(self, event_date_ms: int) -> int | None:
        i = bisect.bisect_left(self._rise_date, event_date_ms)
        return self._rise_seq[i] if i < len(self._rise_seq) else None

    def newest_event_date_ms(self, workspace_sid: str) -> int | None:
        return self._newest.get(workspace_sid)

    def cached(self, seq: int) -> StoredEvent | None:
        return self._cache.get(seq)

    @property
    def cache_first(self) -> int:
        """The oldest seq the cache holds (position + 1 when empty)."""
        return next(iter(self._cache)) if self._cache else self.position + 1

    def cached_after(self, seq: int, limit: int, workspace_sid: str | None) -> Iterator[StoredEvent]:
        """Cached events with seq > `seq` (which must be >= cache_first - 1), in seq order."""
        taken = 0
        for s in range(max(seq + 1, self.cache_first), self.position + 1):
            event = self._cache.get(s)
            if event is None:
                continue  # a skipped seq
            if workspace_sid is None or event.workspace_sid == workspace_sid:
                yield event
                taken += 1
                if taken >= limit:
                    return

    def drop_before(self, first_seq: int) -> int:
        """Forget events the stream no longer holds (retention); returns how many were forgotten."""
        cut = min(first_seq, self.position + 1) - self._base
        if cut <= 0:
            return 0
        for sid in self._sids[:cut]:
            if sid is not None and self._by_sid.get(sid, 0) < self._base + cut:
                self._by_sid.pop(sid, None)
        del self._sids[:cut]
        del self._dates[:cut]
        self._base += cut
        # The running maximum must restart at the new head: a pruned far-future date must not hide later ones.
        self._rise_seq = array("q")
        self._rise_date = array("q")
        for offset, date in enumerate(self._dates):
            if date == _NEVER:
                continue
            if not self._rise_date or date > self._rise_date[-1]:
                self._rise_seq.append(self._base + offset)
                self._rise_date.append(date)
        while self._cache and next(iter(self._cache)) < self._base:
            self._cache.popitem(last=False)
        self.dropped += cut
        return cut
