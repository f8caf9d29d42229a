"""Retention: removes the oldest events in chunks, in the writer thread, between its appends.

prune() removes the oldest events in chunks, letting queued appends in between chunks so a big prune never
stalls webhooks. Each chunk is one transaction sized to take about prune_chunk_ms (the size adapts to what the
last chunks cost, up to prune_chunk rows), so an append waits at most about that long. Where to stop costs no
scan: the age boundary is a binary search over seq (received_ms never decreases with seq), the byte boundary is
found chunk by chunk while deleting. Schedule it with eventlog.log.run_retention (the app decides the interval).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Final

from ..log import EventLogWriteError, Retention
from .checkpointer import Checkpointer
from .jobs import JobQueue, Prune
from .schema import LogState, rollback, row

_FIRST_CHUNK_ROWS: Final = 256  # a prune's first transaction before any cost is known
_MIN_CHUNK_ROWS: Final = 64  # a COMMIT's fsync costs the same for 1 row or 64: smaller chunks only slow a prune


class Pruner:
    """Runs in the writer thread (step), on the writer's connection and its LogState."""

    def __init__(
        self,
        retention: Retention,
        *,
        chunk: int,
        chunk_ms: float,
        rest: float,
        clock_ms: Callable[[], int],
        jobs: JobQueue,
        wal: Checkpointer,
    ) -> None:
        self._retention = retention
        self._chunk_max = chunk
        self._chunk_s = chunk_ms / 1000
        self._rest = rest
        self._clock_ms = clock_ms
        self._jobs = jobs
        self._wal = wal
        # Rows per prune transaction, learnt from the last chunks' cost; starts small, grows while cheap.
        self._chunk_rows = min(chunk, _FIRST_CHUNK_ROWS)
        self._running = False  # a prune has run a chunk and not finished
        self._closing = False  # no pauses or rests any more
        # Counters (writer thread), read by anyone.
        self.pruned = 0  # events removed
        self.chunks = 0  # prune transactions committed
        self.longest_chunk_s = 0.0  # the longest prune transaction, from BEGIN to the end of COMMIT
        self.pauses = 0  # times a prune waited between chunks for the checkpointer to catch up

    @property
    def running(self) -> bool:
        """A prune has run a chunk and not finished: appends committed now are committed during a prune."""
        return self._running

    def close(self) -> None:
        """The log is closing: a prune still queued finishes without pausing or resting."""
        self._closing = True

    def step(self, conn: sqlite3.Connection, job: Prune, state: LogState) -> None:
        """One chunk of the prune `job`; then it is requeued, parked (pause, rest) or answered."""
        if not job.future.running() and not job.future.set_running_or_notify_cancel():
            return
        try:
            if job.keep_from is None:
                job.keep_from = self._boundary(conn, state)
                if self._retention.max_bytes is not None:
                    job.bytes_to_free = max(0, state.total_bytes - self._retention.max_bytes)
            first = row(conn, "SELECT min(seq) FROM events")[0]
            if first is None or (first >= job.keep_from and job.bytes_to_free <= 0):
                self._done(job)
                return
            if self._wal.holds_prunes and not self._closing:
                self._jobs.park(job)
                self._running = True
                self.pauses += 1
                self._wal.wake()  # a checkpointer pass requeues the prune once the WAL is nearly copied
                return
            self._wal.catch_up(conn)
            rows = self._chunk_rows
            started = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            # This chunk's rows, oldest first; stop where both the age/count boundary and the bytes are reached.
            sizes = conn.execute(
                "SELECT seq, size FROM events WHERE seq >= ? ORDER BY seq LIMIT ?", (first, rows)
            ).fetchall()
            upto, freed = first, 0
            for seq, size in sizes:
                if seq >= job.keep_from and freed >= job.bytes_to_free:
                    break
                freed += size
                upto = seq + 1
            removed = conn.execute("DELETE FROM events WHERE seq < ?", (upto,)).rowcount if upto > first else 0
            total = state.total_bytes - freed
            if removed:
                conn.execute("UPDATE log_state SET total_bytes = ? WHERE id = 1", (total,))
            conn.execute("COMMIT")
            elapsed = time.perf_counter() - started
        except Exception as exc:
            rollback(conn)
            self._running = False
            job.future.set_exception(EventLogWriteError(f"prune failed: {exc}"))
            return
        state.total_bytes = total
        self.pruned += removed
        self._wal.note_write(prune_chunk=True)
        self.chunks += 1
        self.longest_chunk_s = max(self.longest_chunk_s, elapsed)
        job.removed += removed
        job.bytes_to_free -= freed
        self._adapt_chunk(rows, removed, elapsed)
        if sizes and upto > sizes[-1][0] and len(sizes) == rows:
            self._running = True
            if self._rest > 0 and not self._closing:
                # Rest as long as the chunk took (times prune_rest) so the disk is not saturated: the WAL
                # fsync every append waits for queues behind a prune's writes and its checkpoints.
                self._jobs.park(job)
                timer = threading.Timer(elapsed * self._rest, self._jobs.unpark)
                timer.daemon = True
                timer.start()
            else:
                self._jobs.put(job)  # next chunk after whatever appends queued meanwhile
        else:
            self._done(job)  # stopped inside this chunk: the boundary is reached, or nothing is left

    def _done(self, job: Prune) -> None:
        self._running = False
        job.future.set_result(job.removed)

    def _adapt_chunk(self, rows: int, removed: int, elapsed: float) -> None:
        """Sizes the next chunk to take about prune_chunk_ms: shrinks at once when a chunk ran long, grows by
        at most half per step (cost per row is not linear: a big chunk also pays a WAL checkpoint). A chunk
        that ran short, because the boundary was reached inside it, says nothing about a full one's cost."""
        if removed < rows and elapsed <= self._chunk_s:
            return
        scale = self._chunk_s / max(elapsed, 1e-6)
        wanted = int(rows * min(scale, 1.5))
        self._chunk_rows = max(min(_MIN_CHUNK_ROWS, self._chunk_max), min(wanted, self._chunk_max))

    def _boundary(self, conn: sqlite3.Connection, state: LogState) -> int:
        """The first seq to keep by age and row count (last_seq + 1 removes everything); bytes go by chunk."""
        policy = self._retention
        keep_from = 0
        if policy.max_age_ms is not None:
            keep_from = self._first_received_at_or_after(conn, state, self._clock_ms() - policy.max_age_ms)
        if policy.max_rows is not None:
            keep_from = max(keep_from, state.last_seq - policy.max_rows + 1)
        return keep_from

    @staticmethod
    def _first_received_at_or_after(conn: sqlite3.Connection, state: LogState, cutoff_ms: int) -> int:
        """The first seq received at/after cutoff_ms, or last_seq + 1. received_ms never decreases with seq
        (appends clamp it even when the wall clock steps back), so a binary search over seq finds it with
        about 23 primary-key lookups at 5 million events, where a scan would read every expired row."""
        lo = row(conn, "SELECT min(seq) FROM events")[0]
        hi = state.last_seq + 1
        if lo is None:
            return hi
        while lo < hi:  # invariant: every retained seq below lo is older than cutoff; the answer is <= hi
            mid = (lo + hi) // 2
            found = row(conn, "SELECT seq, received_ms FROM events WHERE seq >= ? ORDER BY seq LIMIT 1", (mid,))
            if found is None or found[1] >= cutoff_ms:
                hi = mid
            else:
                lo = found[0] + 1
        return lo
