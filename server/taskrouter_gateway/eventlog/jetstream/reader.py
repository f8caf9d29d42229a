"""Reads: the consumer's cache for the newest events, the broker for anything older.

Reads older than the cache are STREAM.MSG.GET requests (next message on the (workspace) subject at/after a
seq); a long run of them (a scan) goes through one short-lived ordered consumer instead of a request each.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from typing import Final

import nats.errors
from nats.js import api

from ..log import EventLogError, StoredEvent
from . import codec
from .connection import Connection, stamp_ms
from .consumer import Consumer
from .failure import describe
from .lifecycle import Lifecycle
from .options import StreamOptions

_SCAN_BUFFER_BYTES: Final = 32 * 1024 * 1024


class StreamReader:
    def __init__(
        self,
        connection: Connection,
        stream: StreamOptions,
        consumer: Consumer,
        lifecycle: Lifecycle,
        *,
        cache_size: int,
        read_timeout_s: float,
    ) -> None:
        self._connection = connection
        self._stream = stream
        self._consumer = consumer
        self._lifecycle = lifecycle
        self._cache_size = cache_size
        self._read_timeout = read_timeout_s

    async def read_after(self, seq: int, limit: int, workspace_sid: str | None) -> list[StoredEvent]:
        recent = await self._consumer.fresh()
        out: list[StoredEvent] = []
        if seq + 1 < recent.cache_first:
            out = await self._read_stream(seq, limit, workspace_sid, below=recent.cache_first)
            if out:
                seq = out[-1].seq
            if len(out) < limit:
                seq = max(seq, recent.cache_first - 1)
        if len(out) < limit:
            out.extend(recent.cached_after(seq, limit - len(out), workspace_sid))
        return out

    async def _read_stream(self, seq: int, limit: int, workspace_sid: str | None, *, below: int) -> list[StoredEvent]:
        """Events older than the cache, from the stream leader: next message on the subject at/after a seq."""
        subject = self._connection.subject(workspace_sid)
        out: list[StoredEvent] = []
        at = seq + 1
        while len(out) < limit and at < below:
            raw = await self._connection.next_message(at, subject)
            if raw is None:
                break
            if raw.seq is None or raw.seq >= below:
                break
            try:
                event = codec.decode(raw.data or b"", raw.seq, stamp_ms(raw.time))
            except codec.UndecodableMessage:
                at = raw.seq + 1
                continue
            if workspace_sid is None or event.workspace_sid == workspace_sid:
                out.append(event)
            at = raw.seq + 1
        return out

    async def newest_event_date_ms(self, workspace_sid: str) -> int | None:
        raw = await self._connection.last_message(self._connection.subject(workspace_sid))
        if raw is None:
            return None
        try:
            return codec.decode(raw.data or b"", raw.seq or 0, stamp_ms(raw.time)).event_date_ms
        except codec.UndecodableMessage:
            return None

    async def get(self, sid: str) -> StoredEvent | None:
        recent, first = await self._consumer.current()
        async with contextlib.aclosing(self.scan(first - 1, recent.position, None)) as scanned:
            async for event in scanned:
                if event.sid == sid:
                    return event
        return None

    async def scan(self, after: int, upto: int, workspace_sid: str | None) -> AsyncGenerator[StoredEvent, None]:
        """Every event with after < seq <= upto (of one workspace, if given), in seq order: the cached part
        from memory, the rest through one short-lived ordered consumer (a push stream, not a request each)."""
        self._lifecycle.require_open()
        recent = self._consumer.recent
        cache_first = recent.cache_first
        if after + 1 < cache_first and after < upto:
            stream_part = self._scan_stream(after, min(upto, cache_first - 1), workspace_sid)
            async with contextlib.aclosing(stream_part) as scanned:
                async for event in scanned:
                    yield event
            after = cache_first - 1
        for event in list(recent.cached_after(after, self._cache_size, workspace_sid)):
            if event.seq > upto:
                return
            yield event

    async def _scan_stream(self, after: int, upto: int, workspace_sid: str | None) -> AsyncGenerator[StoredEvent, None]:
        subject = self._connection.subject(workspace_sid)
        # One request says whether there is anything to read at all: a consumer with nothing pending would
        # only be found out by a timeout.
        first = await self._connection.next_message(after + 1, subject)
        if first is None or first.seq is None or first.seq > upto:
            return
        config = api.ConsumerConfig(deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=first.seq)
        try:
            # No count limit: a client-side drop would make the ordered consumer start over. The server's flow
            # control bounds what is in flight; the byte limit bounds this process's buffer.
            sub = await self._connection.js.subscribe(subject, stream=self._stream.name, ordered_consumer=True,
                                                      config=config, idle_heartbeat=1.0, pending_msgs_limit=-1,
                                                      pending_bytes_limit=_SCAN_BUFFER_BYTES)
        except (nats.errors.Error, TimeoutError) as exc:
            raise EventLogError(f"event log: cannot read the stream from seq {first.seq}: {describe(exc)}") from None
        try:
            last = after
            while True:
                try:
                    msg = await sub.next_msg(timeout=self._read_timeout)
                except (nats.errors.TimeoutError, TimeoutError):
                    raise EventLogError(f"event log: reading the stream after seq {after} timed out") from None
                meta = msg.metadata
                seq = meta.sequence.stream
                if seq <= last:
                    continue  # redelivered after the ordered consumer started over
                last = seq
                if seq > upto:
                    return
                try:
                    yield codec.decode(msg.data, seq, stamp_ms(meta.timestamp))
                except codec.UndecodableMessage:
                    pass
                if seq >= upto or meta.num_pending == 0:
                    return
        finally:
            try:
                await sub.unsubscribe()
            except Exception:  # the connection may be gone; the server drops the ephemeral consumer anyway
                pass
