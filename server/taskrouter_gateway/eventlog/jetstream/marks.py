"""Small shared facts every replica reads and writes, in one JetStream key-value bucket `<stream>_marks`.

- `mark.<workspace>`: the workspace's completeness mark (EventLog.complete_until_ms), in epoch ms.
- `lead`: the most any event's TaskRouter date was seen ahead of the time it was appended, in ms. Time
  lookups start their scan that far before the broker's own (receive) timestamps, so they stay exact even
  when TaskRouter's clock (or the emulator's virtual one) runs ahead.

Both only ever grow: an update is a compare-and-set on the key's last revision, retried until the stored
value is at least the one asked for. One key per workspace plus one: nothing here grows with the stream.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import nats.errors
import nats.js.errors

from ..log import EventLogError
from .failure import describe
from .kv import open_bucket

LEAD_KEY = "lead"
_ATTEMPTS = 20
# How far the broker's clock may run behind the gateway's when it stamps a message: time lookups start this
# much earlier than the largest recorded lead alone would say.
CLOCK_MARGIN_MS: Final = 60_000


class SharedMarks:
    def __init__(self, js: Any, bucket: str, *, replicas: int = 1) -> None:
        self._js = js
        self._bucket = bucket
        self._replicas = replicas
        self._kv: Any = None

    async def _store(self) -> Any:
        if self._kv is None:
            self._kv = await open_bucket(self._js, self._bucket, replicas=self._replicas)
        return self._kv

    async def get(self, key: str) -> int | None:
        try:
            kv = await self._store()
            entry = await kv.get(key)
        except nats.js.errors.KeyNotFoundError:
            return None
        except (nats.errors.Error, TimeoutError) as exc:
            raise EventLogError(f"shared marks ({self._bucket}) unavailable: {describe(exc)}") from None
        try:
            return int((entry.value or b"").decode())
        except ValueError:
            return None  # not written by a gateway: as if absent

    async def raise_to(self, key: str, value: int) -> int:
        """Stores max(stored, value); returns the value now stored."""
        try:
            kv = await self._store()
            for _ in range(_ATTEMPTS):
                try:
                    entry = await kv.get(key)
                except nats.js.errors.KeyNotFoundError:
                    try:
                        await kv.create(key, str(value).encode())
                        return value
                    except nats.js.errors.KeyWrongLastSequenceError:
                        continue  # created by another replica meanwhile
                try:
                    current = int((entry.value or b"").decode())
                except ValueError:
                    current = None
                if current is not None and current >= value:
                    return current
                try:
                    await kv.update(key, str(value).encode(), last=entry.revision)
                    return value
                except nats.js.errors.KeyWrongLastSequenceError:
                    await asyncio.sleep(0)  # another replica moved it: read again
        except (nats.errors.Error, TimeoutError) as exc:
            raise EventLogError(f"shared marks ({self._bucket}) unavailable: {describe(exc)}") from None
        raise EventLogError(f"shared mark {key} keeps changing under this replica; not stored")


class Lead:
    """The largest (TaskRouter date - broker time) of any stored event, as far as this replica knows: read from
    the shared marks at open, raised by the consumer as it reads and by appends before they publish."""

    def __init__(self, marks: SharedMarks) -> None:
        self._marks = marks
        self.ms = 0

    async def load(self) -> None:
        self.ms = max(0, await self._marks.get(LEAD_KEY) or 0)

    def saw(self, lead_ms: int) -> None:
        """An event read from the stream: its writer recorded its lead in the shared marks before publishing."""
        if lead_ms > self.ms:
            self.ms = lead_ms

    async def record(self, lead_ms: int) -> None:
        """Before an event that far ahead is stored: every replica must know time lookups reach that far.
        Raises EventLogError if the shared marks cannot be updated."""
        if lead_ms <= self.ms:
            return
        self.ms = max(self.ms, await self._marks.raise_to(LEAD_KEY, lead_ms))

    def earliest_stored_ms(self, event_date_ms: int) -> int:
        """No event dated event_date_ms was stored (by the broker's clock) before this."""
        return event_date_ms - self.ms - CLOCK_MARGIN_MS
