"""The JetStream log's state, and the appends under way that closing lets finish (and that may still read)."""

from __future__ import annotations

import asyncio
from typing import Literal

from ..log import EventLogClosed

State = Literal["new", "opening", "open", "closing", "closed"]


class Lifecycle:
    def __init__(self) -> None:
        self.state: State = "new"
        self._appending = 0  # append() calls in progress; close() lets them finish
        self._appends_done = asyncio.Event()
        self._appends_done.set()

    @property
    def appending(self) -> int:
        return self._appending

    def require_open(self) -> None:
        # While closing, appends already accepted may still read (to look for earlier copies).
        if self.state not in ("open", "opening") and not (self.state == "closing" and self._appending):
            raise EventLogClosed(f"event log is not open (state: {self.state})")

    def append_started(self) -> None:
        self._appending += 1
        self._appends_done.clear()

    def append_ended(self) -> None:
        self._appending -= 1
        if not self._appending:
            self._appends_done.set()

    async def appends_finished(self) -> None:
        await self._appends_done.wait()
