"""`since` (seq_at_or_after): where the events dated at/after a time begin, without an index by date.

The broker's timestamps are the times it stored each message and never decrease with seq; every event was
stored no earlier than its TaskRouter date minus the largest lead ever seen (marks.Lead). A binary search over
seqs by stored time finds where to start, then a forward scan finds the first event dated at/after T: exact on
event_date, and the scan covers only that lead (plus a clock margin) of the stream.
"""

from __future__ import annotations

import contextlib

from .connection import Connection
from .consumer import Consumer
from .marks import Lead
from .reader import StreamReader


class SinceFinder:
    def __init__(self, connection: Connection, consumer: Consumer, reader: StreamReader, lead: Lead) -> None:
        self._connection = connection
        self._consumer = consumer
        self._reader = reader
        self._lead = lead

    async def since(self, event_date_ms: int) -> tuple[int, int]:
        """(the seq just before the first event dated at/after T, the last seq the answer looked at): a
        scan from the first up to the second sees every event dated at/after T the stream held."""
        recent, first = await self._consumer.current()
        last = recent.position
        # Every event dated at/after T was stored at/after T - lead - margin: find that seq by bisection over
        # the broker's timestamps (they never decrease with seq), then scan forward for the first date >= T.
        floor_ms = self._lead.earliest_stored_ms(event_date_ms)
        lo, hi = first, last + 1  # the answer is in [lo, hi]; hi: none stored that late
        while lo < hi:
            mid = (lo + hi) // 2
            cached = recent.cached(mid)
            stored_ms = cached.received_ms if cached is not None else await self._connection.stored_ms(mid)
            if stored_ms is None:  # removed by retention meanwhile: everything up to it is gone too
                lo = mid + 1
            elif stored_ms >= floor_ms:
                hi = mid
            else:
                lo = mid + 1
        async with contextlib.aclosing(self._reader.scan(lo - 1, last, None)) as scanned:
            async for event in scanned:
                if event.event_date_ms >= event_date_ms:
                    return event.seq - 1, last
        return last, last
