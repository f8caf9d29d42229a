"""The checkpointer thread: copies the WAL into the database beside the writer, and gets a long WAL restarted.

The writer never copies the WAL into the database itself (wal_autocheckpoint off); this thread does, on its
own connection, with PASSIVE checkpoints that run beside the writer instead of inside one of its
transactions. A checkpoint after a prune chunk copies megabytes and fsyncs the database file: in the writer
it stalled appends for 100 ms and more. A WAL restarts from its beginning only when a write finds it entirely
copied, which a busy writer never lets happen. So once the WAL is long (_WAL_RESTART_FRAMES), a prune pauses
between chunks (at 5 million events each deleted row dirties its own page of the sid index: a prune writes
far faster than appends); after a checkpointer pass during which no chunk ran, only appends' frames are left
uncopied, and the writer copies them itself before its next transaction (milliseconds, catch_up), which then
restarts the WAL. Appends go on all the while.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Final

import structlog

_CHECKPOINT_PAUSE_S: Final = 0.25  # between the checkpointer's passes while writes continue
_CHECKPOINT_RETRY_S: Final = 0.01  # after a pass that readers held back
_WAL_RESTART_FRAMES: Final = 8192  # a WAL this long (32 MB of 4 KiB pages) is brought back to its start

_log = structlog.get_logger(__name__)


class Checkpointer:
    """Started and stopped by the writer thread; note_write, wake and catch_up are called from that thread."""

    def __init__(self, path: Path, *, after_pass: Callable[[], None]) -> None:
        self._path = path
        self._after_pass = after_pass  # ends a prune's pause (it may also cut a prune's rest short)
        self._thread: threading.Thread | None = None
        self._written = threading.Event()  # the writer committed since the last pass
        self._stop = threading.Event()
        self._prune_chunks = 0  # prune transactions committed (writer thread): a pass during one copies again
        self._long = False  # set by the checkpointer: a prune pauses until the WAL restarts
        self._nearly_copied = False  # set by the checkpointer: the writer copies the rest and restarts the WAL
        # Counters (the checkpointer's thread, the writer's), read by anyone.
        self.passes = 0
        self.restarts = 0  # times the writer copied a long WAL's last frames so that its next write restarts it

    @property
    def holds_prunes(self) -> bool:
        """Whether a prune must pause before its next chunk: the WAL is long and not yet nearly copied."""
        return self._long and not self._nearly_copied

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._main, name=f"event-log-checkpointer:{self._path.name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Ends the thread and waits for it; the writer's connection, closing last, checkpoints what is left."""
        self._stop.set()
        self._written.set()
        if self._thread is not None:
            self._thread.join()

    def note_write(self, *, prune_chunk: bool = False) -> None:
        """After a commit: there is something to copy."""
        self._written.set()
        if prune_chunk:
            self._prune_chunks += 1

    def wake(self) -> None:
        """A paused prune waits for a pass: run one even if nothing was written since the last."""
        self._written.set()

    def catch_up(self, conn: sqlite3.Connection) -> None:
        """Before a write (writer thread): if a pass left only a few frames of a long WAL uncopied, copy them,
        so that this write restarts the WAL from its beginning."""
        if not self._nearly_copied:
            return
        self._nearly_copied = False
        self._long = False
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:
            _log.warning("event_log.checkpoint_failed", path=str(self._path), error=str(exc))
            return
        self.restarts += 1

    def _main(self) -> None:
        try:
            conn = sqlite3.connect(self._path, isolation_level=None, timeout=10.0)
            db_fd = os.open(self._path, os.O_RDONLY | os.O_CLOEXEC)
        except (sqlite3.Error, OSError) as exc:
            _log.error("event_log.checkpointer_failed", path=str(self._path), error=str(exc))
            return
        try:
            while True:
                self._written.wait()
                if self._stop.is_set():
                    return  # close: the writer's connection, closing last, checkpoints what is left
                self._written.clear()
                chunks_before = self._prune_chunks
                try:
                    _busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    # SQLite syncs the database file only after a pass that reached the WAL's end, which a pass
                    # during a prune never does: the copied pages would pile up, dirty, for the writer's next
                    # full checkpoint to flush (150 ms and more at 5 million events). Flush each pass's here.
                    if copied > 0:
                        os.fdatasync(db_fd)
                except (sqlite3.Error, OSError) as exc:
                    _log.warning("event_log.checkpoint_failed", path=str(self._path), error=str(exc))
                    frames = copied = 0
                self.passes += 1
                self._long = frames >= _WAL_RESTART_FRAMES
                if self._long:
                    if self._prune_chunks != chunks_before:
                        continue  # a prune chunk wrote during this pass (and woke us): copy that too
                    if copied < frames:  # a reader's snapshot held some frames back: try again shortly
                        self._written.set()
                        if self._stop.wait(_CHECKPOINT_RETRY_S):
                            return
                        continue
                    self._nearly_copied = True  # only appends wrote since this pass began
                self._after_pass()  # a prune waiting for this pass (it may also cut a prune's rest short)
                if self._stop.wait(_CHECKPOINT_PAUSE_S):
                    return
        finally:
            os.close(db_fd)
            conn.close()
