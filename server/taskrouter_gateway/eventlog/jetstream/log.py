"""EventLog on one NATS JetStream stream, shared by every gateway replica.

Nothing is read at start-up in proportion to the stream: a replica asks the broker for the stream's bounds,
starts ONE ordered consumer at the end and serves. Everything the consumer's cache of the newest events does
not hold is answered by the broker. The log object owns its parts, built once connected; each module's
docstring says why it works as it does:
- connection.py: the NATS connection, the stream created or checked, single-message reads;
- consumer.py: the ordered consumer, the recent-events cache, commit listeners, gaps;
- reader.py: reads older than the cache, and scans; since.py: `since` (seq_at_or_after) by bisection;
- appender.py: publishes with msg-id dedup; dedup.py: dedup beyond the broker's duplicate window;
- marks.py: the completeness marks and the lead, in a small key-value bucket shared by the replicas;
  lease.py: leases for `exclusive`; lifecycle.py: the log's state and the appends that closing waits for.

Seqs are the stream's sequence numbers: deletes and purges are denied on the stream, so they stay gap-free
apart from retention at the head. The log id is the stream name plus its creation time, so cursors from a
recreated stream (or another deployment's) are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import nats.errors
import structlog
from nats.aio.client import Client as NATS
from nats.js import api

from ..log import (
    AppendResult,
    EventLog,
    EventLogError,
    EventLogOpenError,
    EventLogWriteError,
    NewEvent,
    StoredEvent,
    check_date,
    check_read_after,
    check_text,
)
from . import codec
from .appender import ERR_DUPLICATE_IN_PROCESS, Appender
from .connection import Connection, stamp_ms
from .consumer import Consumer
from .dedup import Deduper
from .failure import describe
from .lease import KvLeases
from .lifecycle import Lifecycle
from .marks import CLOCK_MARGIN_MS, Lead, SharedMarks
from .options import MIN_DUPLICATE_WINDOW_S, NatsOptions, StreamOptions, redact_url
from .reader import StreamReader
from .since import SinceFinder

__all__ = [
    "CLOCK_MARGIN_MS", "ERR_DUPLICATE_IN_PROCESS", "MIN_DUPLICATE_WINDOW_S", "JetStreamEventLog", "NatsOptions",
    "StreamOptions", "redact_url",
]

_log = structlog.get_logger(__name__)


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class _Parts:
    """What the log is made of once connected."""

    marks: SharedMarks
    lead: Lead
    consumer: Consumer
    reader: StreamReader
    since: SinceFinder
    deduper: Deduper
    appender: Appender


class JetStreamEventLog(EventLog):
    def __init__(
        self,
        nats_options: NatsOptions,
        stream: StreamOptions = StreamOptions(),
        *,
        write_timeout_s: float = 5.0,
        read_timeout_s: float = 5.0,
        max_in_flight: int = 256,
        cache_size: int = 10_000,
        lease_ttl_s: float = 30.0,
        clock_ms: Callable[[], int] = _wall_ms,
    ) -> None:
        if not nats_options.servers:
            raise ValueError("at least one NATS server URL is needed")
        if write_timeout_s <= 0 or read_timeout_s <= 0 or max_in_flight < 1 or cache_size < 1:
            raise ValueError("timeouts must be > 0; max_in_flight and cache_size >= 1")
        self._nats = nats_options
        self._stream = stream
        self._write_timeout = write_timeout_s
        self._read_timeout = read_timeout_s
        self._max_in_flight = max_in_flight
        self._cache_size = cache_size
        self._lease_ttl = lease_ttl_s
        self._clock_ms = clock_ms
        self._lifecycle = Lifecycle()
        self._connection = Connection(nats_options, stream, read_timeout_s=read_timeout_s)
        self._parts: _Parts | None = None  # built by open() once connected
        self._leases: KvLeases | None = None
        self._listeners: list[Callable[[list[StoredEvent]], None]] = []
        self._gap_listeners: list[Callable[[int, int], None]] = []
        self._head = 1  # the stream's first seq at the last prune()

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def stream_name(self) -> str:
        return self._stream.name

    @property
    def connection(self) -> NATS:
        return self._connection.client

    @property
    def position(self) -> int:
        """The last seq this replica's consumer has read."""
        return self._parts.consumer.recent.position if self._parts is not None else 0

    @property
    def cached_events(self) -> int:
        """Events held in memory (at most cache_size, whatever the stream holds)."""
        return len(self._parts.consumer.recent) if self._parts is not None else 0

    @property
    def gaps(self) -> int:
        """Times retention removed events before this replica read them (metrics, tests)."""
        return self._parts.consumer.gaps if self._parts is not None else 0

    async def open(self) -> None:
        if self._lifecycle.state != "new":
            raise EventLogError(f"event log can be opened once (state: {self._lifecycle.state})")
        self._lifecycle.state = "opening"
        try:
            await self._connection.connect()
            info = await self._connection.ensure_stream()
            created = info.created if getattr(info, "created", None) else None
            stamp = stamp_ms(api.Base._parse_utc_iso(created)) if isinstance(created, str) else stamp_ms(created)
            self._log_id = f"{self._stream.name}-{stamp:x}"
            # Start at the end: what came before is read from the broker when someone asks for it.
            last = info.state.last_seq
            parts = self._parts = self._build(last)
            self._head = info.state.first_seq if info.state.messages else last + 1
            try:
                await parts.lead.load()
            except EventLogError as exc:
                raise EventLogOpenError(str(exc)) from None
            await parts.consumer.subscribe()
        except BaseException:
            self._lifecycle.state = "closed"
            await self._disconnect()
            raise
        self._lifecycle.state = "open"
        _log.info("event_log.opened", backend="nats", stream=self._stream.name, log_id=self._log_id,
                  last_seq=parts.consumer.recent.position, replicas=self._stream.replicas)

    def _build(self, position: int) -> _Parts:
        connection, stream, lifecycle = self._connection, self._stream, self._lifecycle
        marks = SharedMarks(connection.js, f"{stream.name}_marks", replicas=stream.replicas)
        lead = Lead(marks)
        consumer = Consumer(
            connection, stream, lifecycle, lead, position=position, cache_size=self._cache_size,
            read_timeout_s=self._read_timeout, listeners=self._listeners, gap_listeners=self._gap_listeners,
        )
        reader = StreamReader(connection, stream, consumer, lifecycle, cache_size=self._cache_size,
                              read_timeout_s=self._read_timeout)
        since = SinceFinder(connection, consumer, reader, lead)
        deduper = Deduper(since, reader, lead, duplicate_window_s=stream.duplicate_window_s,
                          write_timeout_s=self._write_timeout, clock_ms=self._clock_ms)
        appender = Appender(connection, stream, lifecycle, consumer, deduper, lead, max_in_flight=self._max_in_flight,
                            write_timeout_s=self._write_timeout, clock_ms=self._clock_ms)
        return _Parts(marks, lead, consumer, reader, since, deduper, appender)

    async def close(self) -> None:
        lifecycle = self._lifecycle
        if lifecycle.state in ("closing", "closed"):
            return
        lifecycle.state = "closing"
        try:
            # Appends already accepted get their acknowledgement (or their error) before the connection goes.
            await asyncio.wait_for(lifecycle.appends_finished(), self._write_timeout + 1)
        except TimeoutError:
            _log.warning("event_log.close_with_appends_pending", appending=lifecycle.appending)
        if self._parts is not None:
            await self._parts.consumer.stop_catching_up()
        await self._disconnect()
        if self._parts is not None:
            self._parts.consumer.fail_waiters()
        lifecycle.state = "closed"
        _log.info("event_log.closed", backend="nats", stream=self._stream.name)

    async def _disconnect(self) -> None:
        if self._parts is not None:
            await self._parts.consumer.unsubscribe()
        await self._connection.close()

    def _require_open(self) -> _Parts:
        self._lifecycle.require_open()
        assert self._parts is not None
        return self._parts

    def not_ready_reason(self) -> str | None:
        return self._parts.consumer.not_ready_reason() if self._parts is not None else None

    def add_gap_listener(self, listener: Callable[[int, int], None]) -> None:
        self._gap_listeners.append(listener)

    def add_commit_listener(self, listener: Callable[[list[StoredEvent]], None]) -> bool:
        self._listeners.append(listener)
        return True

    # -- writes ------------------------------------------------------------------------------------

    async def append(self, events: Sequence[NewEvent]) -> list[AppendResult]:
        return await self._require_open().appender.append(events)

    @contextlib.asynccontextmanager
    async def dedup_scope(self, workspace_sid: str, start_ms: int) -> AsyncIterator[None]:
        """Reads the workspace's subject from where `start_ms` begins into an on-disk set (dedup.py)."""
        check_text("workspace_sid", workspace_sid)
        check_date(start_ms)
        async with self._require_open().deduper.scope(workspace_sid, start_ms):
            yield

    @property
    def leases(self) -> KvLeases | None:
        return self._leases

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[None]:
        """Held as a lease in the KV bucket `<stream>_leases`, shared by every replica of this stream."""
        self._require_open()
        if self._leases is None:
            self._leases = KvLeases(self._connection.js, f"{self._stream.name}_leases", ttl_s=self._lease_ttl,
                                    replicas=self._stream.replicas)
        try:
            async with self._leases.hold(name):
                yield
        except (nats.errors.Error, TimeoutError) as exc:
            raise EventLogError(f"lease {name} unavailable: {describe(exc)}") from None

    async def prune(self) -> int:
        """JetStream applies retention itself (max_age, max_bytes); this says how many events it removed since the
        previous call (and forgets them from the cache)."""
        first, _ = await self._require_open().consumer.bounds()
        removed = max(0, first - self._head)
        self._head = max(self._head, first)
        return removed

    # -- marks ---------------------------------------------------------------------------------------

    async def complete_until_ms(self, workspace_sid: str) -> int | None:
        check_text("workspace_sid", workspace_sid)
        return await self._require_open().marks.get(f"mark.{codec.token(workspace_sid)}")

    async def mark_complete_until(self, workspace_sid: str, event_date_ms: int) -> int:
        check_text("workspace_sid", workspace_sid)
        check_date(event_date_ms)
        marks = self._require_open().marks
        try:
            return await marks.raise_to(f"mark.{codec.token(workspace_sid)}", event_date_ms)
        except EventLogError as exc:
            raise EventLogWriteError(str(exc)) from None

    # -- reads -------------------------------------------------------------------------------------

    async def read_after(self, seq: int, *, limit: int, workspace_sid: str | None = None) -> list[StoredEvent]:
        check_read_after(seq, limit, workspace_sid)
        return await self._require_open().reader.read_after(seq, limit, workspace_sid)

    async def seq_at_or_after(self, event_date_ms: int) -> int:
        check_date(event_date_ms)
        return (await self._require_open().since.since(event_date_ms))[0]

    async def last_seq(self) -> int:
        return (await self._require_open().consumer.current())[0].position

    async def first_seq(self) -> int:
        first, _ = await self._require_open().consumer.bounds()
        return first

    async def newest_event_date_ms(self, workspace_sid: str) -> int | None:
        """The date of the workspace's last appended event (the broker answers it from its subject index)."""
        check_text("workspace_sid", workspace_sid)
        return await self._require_open().reader.newest_event_date_ms(workspace_sid)

    async def get(self, sid: str) -> StoredEvent | None:
        """Diagnostics and tests only: a scan of the whole stream (no serving path looks events up by sid)."""
        check_text("sid", sid)
        return await self._require_open().reader.get(sid)
