"""EventLog on one NATS JetStream stream, shared by every gateway replica.

Writes: each event is one awaited JetStream publish with `Nats-Msg-Id: <event sid>`, so the broker stores a
sid once even when two replicas receive the same callback; append() returns only after the stream acked it
(on an R3 stream: after a quorum stored it; durable on ack with the servers' `sync_interval: always`).
Awaited publishes, not publish_async: nats-py's async futures never resolve when the server answers with an
error (nats.py issue 985). Concurrency is bounded by a semaphore. A publish of a msg id another replica is
still replicating gets error 10158 and is retried (it then reports the duplicate); one that cannot be acked
before the write timeout (no stream leader, broker unreachable) raises EventLogWriteError, which the webhook
answers with 503.

Dedup beyond the broker's duplicate window: append() first looks the sid up in this replica's index of the
stream (events.jetstream_index) and does not publish a sid the stream already holds, however old.

Reads: every replica runs ONE ordered consumer over the whole stream (never one per subscriber). It builds
the index, keeps the newest events in a cache, and hands new events to commit listeners (the fan-out) in
seq order. Reads older than the cache go to the stream leader (STREAM.MSG.GET, next-by-subject).

Seqs are the stream's sequence numbers: deletes and purges are denied on the stream, so they stay gap-free
apart from retention at the head. The log id is the stream name plus its creation time, so cursors from a
recreated stream (or another deployment's) are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import nats
import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import api

from . import jetstream_codec as codec
from .jetstream_index import StreamIndex
from .jetstream_lease import KvLeases
from .log import (
    DAY_MS,
    AppendResult,
    EventLog,
    EventLogClosed,
    EventLogError,
    EventLogOpenError,
    EventLogWriteError,
    NewEvent,
    StoredEvent,
    check_date,
    check_read_after,
    check_text,
)

_log = structlog.get_logger(__name__)

ERR_DUPLICATE_IN_PROCESS: Final = 10158  # "duplicate message id is in process": another publish still replicating
MIN_DUPLICATE_WINDOW_S: Final = 3600.0
_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
_PREFIX = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")
_RETRY_PAUSE_S: Final = 0.05


@dataclass(frozen=True, slots=True)
class NatsOptions:
    """How to reach the brokers. `servers` are nats:// or tls:// URLs of one cluster."""

    servers: tuple[str, ...] = ("nats://127.0.0.1:4222",)
    credentials_file: str | None = None
    user: str | None = None
    password: str | None = None
    token: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    connect_timeout_s: float = 5.0
    name: str = "taskrouter-gateway"

    def tls_context(self) -> ssl.SSLContext | None:
        if not (self.tls_ca or self.tls_cert):
            return None
        context = ssl.create_default_context(cafile=self.tls_ca)
        if self.tls_cert:
            context.load_cert_chain(self.tls_cert, self.tls_key)
        return context


@dataclass(frozen=True, slots=True)
class StreamOptions:
    name: str = "TASKROUTER_EVENTS"
    prefix: str = "taskrouter.events"
    replicas: int = 1
    max_age_ms: int = 30 * DAY_MS
    max_bytes: int | None = None  # None: no size cap
    duplicate_window_s: float = MIN_DUPLICATE_WINDOW_S

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"stream name must be 1-32 of A-Z a-z 0-9 _ -, got {self.name!r}")
        if not _PREFIX.fullmatch(self.prefix):
            raise ValueError(f"subject prefix must be dot-separated tokens of A-Z a-z 0-9 _ -, got {self.prefix!r}")
        if self.replicas not in (1, 3):
            raise ValueError(f"replicas must be 1 or 3, got {self.replicas}")
        if self.max_age_ms <= 0 or (self.max_bytes is not None and self.max_bytes <= 0):
            raise ValueError("max_age_ms and max_bytes must be > 0")
        if not 0 < self.duplicate_window_s <= self.max_age_ms / 1000:
            raise ValueError("duplicate_window_s must be > 0 and at most max_age")

    def config(self) -> api.StreamConfig:
        return api.StreamConfig(
            name=self.name,
            subjects=[f"{self.prefix}.>"],
            retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.FILE,
            num_replicas=self.replicas,
            max_age=self.max_age_ms / 1000,
            max_bytes=self.max_bytes if self.max_bytes is not None else -1,
            discard=api.DiscardPolicy.OLD,
            duplicate_window=self.duplicate_window_s,
            deny_delete=True,
            deny_purge=True,
        )

    def conflicts(self, have: api.StreamConfig) -> list[str]:
        """What makes an existing stream unusable as this log, one phrase each."""
        want = self.config()
        out: list[str] = []

        def differs(what: str, got: object, wanted: object) -> None:
            if got != wanted:
                out.append(f"{what} is {got} (want {wanted})")

        differs("subjects", have.subjects, want.subjects)
        differs("storage", _value(have.storage), _value(want.storage))
        differs("replicas", have.num_replicas, want.num_replicas)
        differs("retention", _value(have.retention), _value(want.retention))
        differs("discard", _value(have.discard), _value(want.discard))
        differs("max_age seconds", round(have.max_age or 0), round(want.max_age or 0))
        differs("max_bytes", have.max_bytes if have.max_bytes is not None else -1, want.max_bytes)
        if not have.deny_delete or not have.deny_purge:
            out.append("deletes or purges are allowed (both must be denied so seqs stay gap-free)")
        if (have.duplicate_window or 0) < self.duplicate_window_s - 0.001:
            out.append(f"duplicate_window is {have.duplicate_window}s (want at least {self.duplicate_window_s}s)")
        return out


def redact_url(url: str) -> str:
    """The URL without a user:password@ part, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return url
    return f"{scheme}://***@{rest.split('@', 1)[1]}"


def _value(enum_or_str: Any) -> Any:
    return getattr(enum_or_str, "value", enum_or_str)


def _ms(value: Any) -> int:
    return int(value.timestamp() * 1000) if value is not None else 0


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
    ) -> None:
        if not nats_options.servers:
            raise ValueError("at least one NATS server URL is needed")
        if write_timeout_s <= 0 or read_timeout_s <= 0 or max_in_flight < 1 or cache_size < 1:
            raise ValueError("timeouts must be > 0; max_in_flight and cache_size >= 1")
        self._nats = nats_options
        self._stream = stream
        self._write_timeout = write_timeout_s
        self._read_timeout = read_timeout_s
        self._cache_size = cache_size
        self._lease_ttl = lease_ttl_s
        self._leases: KvLeases | None = None
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._state = "new"
        self._nc: NATS | None = None
        self._js: Any = None
        self._jsm: Any = None
        self._sub: Any = None
        self._log_id: str | None = None
        self._index: StreamIndex | None = None
        self._acked_max = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._listeners: list[Callable[[list[StoredEvent]], None]] = []
        self._pending: list[StoredEvent] = []
        self._flush_scheduled = False
        self._appending = 0  # append() calls in progress; close() lets them finish
        self._appends_done = asyncio.Event()
        self._appends_done.set()

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def stream_name(self) -> str:
        return self._stream.name

    @property
    def connection(self) -> NATS:
        if self._nc is None:
            raise EventLogClosed("event log is not open")
        return self._nc

    async def open(self) -> None:
        if self._state != "new":
            raise EventLogError(f"event log can be opened once (state: {self._state})")
        self._state = "opening"
        try:
            await self._connect()
            info = await self._ensure_stream()
            created = info.created if getattr(info, "created", None) else None
            stamp = _ms(api.Base._parse_utc_iso(created)) if isinstance(created, str) else _ms(created)
            self._log_id = f"{self._stream.name}-{stamp:x}"
            state = info.state
            self._index = StreamIndex(first_seq=state.first_seq if state.messages else state.last_seq + 1,
                                      cache_size=self._cache_size)
            self._acked_max = state.last_seq
            await self._start_consumer()
            await self._reach(state.last_seq, self._read_timeout * 4, what="catching up with the stream")
        except BaseException:
            self._state = "closed"
            await self._disconnect()
            raise
        self._state = "open"
        _log.info("event_log.opened", backend="nats", stream=self._stream.name, log_id=self._log_id,
                  last_seq=self._index.position, replicas=self._stream.replicas)

    async def _connect(self) -> None:
        opts = self._nats
        servers = list(opts.servers)
        kwargs: dict[str, Any] = {}
        if opts.credentials_file:
            kwargs["user_credentials"] = opts.credentials_file
        if opts.user:
            kwargs["user"], kwargs["password"] = opts.user, opts.password or ""
        if opts.token:
            kwargs["token"] = opts.token
        try:
            tls = opts.tls_context()
        except (OSError, ssl.SSLError) as exc:
            raise EventLogOpenError(f"NATS TLS files cannot be loaded: {exc}") from None
        if tls is not None:
            kwargs["tls"] = tls

        errors: list[Exception] = []

        async def remember(exc: Exception) -> None:
            # Connection errors surface as failed operations; the client keeps reconnecting. The first ones
            # explain a failed start-up.
            if len(errors) < 8:
                errors.append(exc)

        try:
            self._nc = await asyncio.wait_for(
                nats.connect(
                    servers, name=opts.name, connect_timeout=max(1, int(opts.connect_timeout_s)),
                    max_reconnect_attempts=-1, reconnect_time_wait=0.25, allow_reconnect=True,
                    error_cb=remember, **kwargs,
                ),
                opts.connect_timeout_s,
            )
        except (OSError, TimeoutError, nats.errors.Error, ValueError) as exc:
            cause = errors[-1] if errors and isinstance(exc, TimeoutError) else exc
            detail = str(cause) or type(cause).__name__
            shown = ",".join(redact_url(url) for url in servers)
            raise EventLogOpenError(f"cannot connect to NATS at {shown}: {detail}") from None
        self._js = self._nc.jetstream(timeout=self._read_timeout)
        self._jsm = self._nc.jsm(timeout=self._read_timeout)

    async def _ensure_stream(self) -> Any:
        name = self._stream.name
        try:
            try:
                info = await self._jsm.stream_info(name)
            except nats.js.errors.NotFoundError:
                info = await self._jsm.add_stream(self._stream.config())
                _log.info("event_log.stream_created", stream=name, replicas=self._stream.replicas)
                return info
        except nats.js.errors.APIError as exc:
            raise EventLogOpenError(f"NATS stream {name} cannot be created or read: {exc.description}") from None
        except (nats.errors.Error, TimeoutError) as exc:
            raise EventLogOpenError(
                f"NATS stream {name} cannot be created or read (is JetStream enabled?): {exc or type(exc).__name__}"
            ) from None
        conflicts = self._stream.conflicts(info.config)
        if conflicts:
            raise EventLogOpenError(f"NATS stream {name} exists with incompatible settings: " + "; ".join(conflicts))
        return info

    async def _start_consumer(self) -> None:
        assert self._index is not None
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=max(self._index.position + 1, 1),
        )
        self._sub = await self._js.subscribe(
            f"{self._stream.prefix}.>", stream=self._stream.name, cb=self._on_msg, ordered_consumer=True,
            idle_heartbeat=1.0, config=config, pending_msgs_limit=-1, pending_bytes_limit=256 * 1024 * 1024,
        )

    async def close(self) -> None:
        if self._state in ("closing", "closed"):
            return
        self._state = "closing"
        try:
            # Appends already accepted get their acknowledgement (or their error) before the connection goes.
            await asyncio.wait_for(self._appends_done.wait(), self._write_timeout + 1)
        except TimeoutError:
            _log.warning("event_log.close_with_appends_pending", appending=self._appending)
        await self._disconnect()
        for _, waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(EventLogClosed("event log closed"))
        self._waiters.clear()
        self._state = "closed"
        _log.info("event_log.closed", backend="nats", stream=self._stream.name)

    async def _disconnect(self) -> None:
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except Exception:  # the connection may already be gone; nothing to release then
                pass
            self._sub = None
        if self._nc is not None:
            try:
                await self._nc.close()
            except Exception:
                pass
            self._nc = None

    def _require_open(self) -> StreamIndex:
        if self._state != "open" and self._state != "opening":
            raise EventLogClosed(f"event log is not open (state: {self._state})")
        assert self._index is not None
        return self._index

    # -- the ordered consumer ----------------------------------------------------------------------

    async def _on_msg(self, msg: Msg) -> None:
        index = self._index
        if index is None:
            return
        meta = msg.metadata
        seq = meta.sequence.stream
        if seq <= index.position:
            return
        try:
            event = codec.decode(msg.data, seq, _ms(meta.timestamp))
        except codec.UndecodableMessage:
            _log.exception("event_log.undecodable_message", seq=seq)
            index.skip(seq)
            if self._waiters:
                self._wake_waiters()
            return
        index.add(event)
        if self._listeners:
            self._pending.append(event)
            if not self._flush_scheduled:
                self._flush_scheduled = True
                asyncio.get_running_loop().call_soon(self._flush)
        if self._waiters:
            self._wake_waiters()

    def _flush(self) -> None:
        # One hand-over per burst: messages delivered back to back reach the fan-out as one list.
        self._flush_scheduled = False
        events, self._pending = self._pending, []
        for listener in self._listeners:
            try:
                listener(events)
            except Exception:
                _log.exception("event_log.listener_failed")

    def _wake_waiters(self) -> None:
        assert self._index is not None
        position = self._index.position
        still = []
        for target, waiter in self._waiters:
            if position >= target:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                still.append((target, waiter))
        self._waiters = still

    async def _reach(self, target: int, timeout: float, *, what: str = "reading") -> StreamIndex:
        """Waits until the consumer has indexed every seq <= target."""
        index = self._index
        assert index is not None
        if index.position >= target:
            return index
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append((target, waiter))
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            # Retention may have removed what we wait for before we read it.
            first, _ = await self._bounds()
            if first > target:
                index.drop_before(first)
                index.position = max(index.position, first - 1)
                return index
            raise EventLogError(
                f"event log: {what} timed out at seq {index.position} of {target} (is the NATS stream available?)"
            ) from None
        return index

    async def _bounds(self) -> tuple[int, int]:
        """(first_seq, last_seq) from the stream leader."""
        try:
            info = await self._jsm.stream_info(self._stream.name)
        except (nats.errors.Error, TimeoutError) as exc:
            raise EventLogError(f"event log: NATS stream {self._stream.name} unavailable: {exc!r}") from None
        state = info.state
        last = state.last_seq
        first = state.first_seq if state.messages else last + 1
        if self._index is not None and self._index.position >= first - 1:
            # Whatever the broker's retention removed is forgotten here too (cheap when nothing was).
            self._index.drop_before(first)
        return first, last

    # -- writes ------------------------------------------------------------------------------------

    async def append(self, events: Sequence[NewEvent]) -> list[AppendResult]:
        index = self._require_open()
        events = list(events)
        for ev in events:
            if not isinstance(ev, NewEvent):
                raise TypeError(f"append takes NewEvent items, got {type(ev).__name__}")
        if len(events) > 1:
            # A batch is a backfill (the webhook appends one event at a time): its events may be older than the
            # broker's duplicate window, so the index must hold the whole stream before it is asked about them.
            index = await self._current()
        results: list[AppendResult] = []
        seen: dict[str, int] = {}
        self._appending += 1
        self._appends_done.clear()
        try:
            for ev in events:
                known = seen.get(ev.sid) or index.seq_of(ev.sid)
                if known is not None:
                    results.append(AppendResult(known, True))
                    continue
                result = await self._publish(ev)
                seen[ev.sid] = result.seq
                results.append(result)
        finally:
            self._appending -= 1
            if not self._appending:
                self._appends_done.set()
        return results

    async def _publish(self, ev: NewEvent) -> AppendResult:
        subject = codec.subject_for(self._stream.prefix, ev)
        data = codec.encode(ev)
        headers = {"Nats-Msg-Id": ev.sid}
        deadline = time.monotonic() + self._write_timeout
        async with self._in_flight:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise EventLogWriteError(
                        f"event {ev.sid} not stored: no acknowledgement from NATS stream {self._stream.name}"
                        f" within {self._write_timeout}s"
                    )
                try:
                    ack = await self._js.publish(subject, data, timeout=min(remaining, 2.0), headers=headers,
                                                 stream=self._stream.name)
                    break
                except nats.js.errors.APIError as exc:
                    if exc.err_code != ERR_DUPLICATE_IN_PROCESS and exc.code not in (503, 500):
                        raise EventLogWriteError(f"event {ev.sid} not stored: {exc.description}") from None
                except (nats.errors.TimeoutError, nats.js.errors.NoStreamResponseError,
                        nats.errors.ConnectionReconnectingError, nats.errors.NoRespondersError):
                    pass  # no leader (election) or link down: retry the same msg id; the broker dedups it
                except (nats.errors.ConnectionClosedError, nats.errors.Error) as exc:
                    raise EventLogWriteError(f"event {ev.sid} not stored: {exc!r}") from None
                await asyncio.sleep(min(_RETRY_PAUSE_S, max(deadline - time.monotonic(), 0)))
        if ack.seq > self._acked_max:
            self._acked_max = ack.seq
        return AppendResult(ack.seq, bool(ack.duplicate))

    def add_commit_listener(self, listener: Callable[[list[StoredEvent]], None]) -> bool:
        self._listeners.append(listener)
        return True

    @property
    def leases(self) -> KvLeases | None:
        return self._leases

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[None]:
        """Held as a lease in the KV bucket `<stream>_leases`, shared by every replica of this stream."""
        self._require_open()
        if self._leases is None:
            self._leases = KvLeases(self._js, f"{self._stream.name}_leases", ttl_s=self._lease_ttl,
                                    replicas=self._stream.replicas)
        try:
            async with self._leases.hold(name):
                yield
        except (nats.errors.Error, TimeoutError) as exc:
            raise EventLogError(f"lease {name} unavailable: {exc!r}") from None

    async def prune(self) -> int:
        """JetStream applies retention itself (max_age, max_bytes); this forgets what it removed.

        Every stream-state check does the same, so between checks a replica may still serve from memory a few
        events the broker has already discarded: never fewer events than retained, never a gap.
        """
        index = self._require_open()
        before = index.dropped
        await self._bounds()
        return index.dropped - before

    # -- reads -------------------------------------------------------------------------------------

    async def _fresh(self) -> StreamIndex:
        """The index once it holds everything this replica has acked (other replicas' writes follow shortly)."""
        self._require_open()
        return await self._reach(self._acked_max, self._read_timeout)

    async def _current(self) -> StreamIndex:
        """The index once it holds everything the stream held when called."""
        self._require_open()
        _, last = await self._bounds()
        return await self._reach(max(last, self._acked_max), self._read_timeout)

    async def read_after(self, seq: int, *, limit: int, workspace_sid: str | None = None) -> list[StoredEvent]:
        check_read_after(seq, limit, workspace_sid)
        index = await self._fresh()
        out: list[StoredEvent] = []
        if seq + 1 < index.cache_first:
            out = await self._read_stream(seq, limit, workspace_sid, below=index.cache_first)
            if out:
                seq = out[-1].seq
            if len(out) < limit:
                seq = max(seq, index.cache_first - 1)
        if len(out) < limit:
            out.extend(index.cached_after(seq, limit - len(out), workspace_sid))
        return out

    async def _read_stream(self, seq: int, limit: int, workspace_sid: str | None, *, below: int) -> list[StoredEvent]:
        """Events older than the cache, from the stream leader: next message on the subject at/after a seq."""
        subject = (codec.workspace_filter(self._stream.prefix, workspace_sid) if workspace_sid
                   else f"{self._stream.prefix}.>")
        out: list[StoredEvent] = []
        at = seq + 1
        while len(out) < limit and at < below:
            try:
                raw = await self._jsm.get_msg(self._stream.name, seq=at, subject=subject, next=True)
            except nats.js.errors.NotFoundError:
                break
            except (nats.errors.Error, TimeoutError) as exc:
                raise EventLogError(f"event log: reading seq {at} failed: {exc!r}") from None
            if raw.seq is None or raw.seq >= below:
                break
            event = codec.decode(raw.data or b"", raw.seq, _ms(raw.time))
            if workspace_sid is None or event.workspace_sid == workspace_sid:
                out.append(event)
            at = raw.seq + 1
        return out

    async def seq_at_or_after(self, event_date_ms: int) -> int:
        check_date(event_date_ms)
        index = await self._current()
        first = index.first_dated_at_or_after(event_date_ms)
        return index.position if first is None else first - 1

    async def last_seq(self) -> int:
        return (await self._current()).position

    async def first_seq(self) -> int:
        self._require_open()
        first, _ = await self._bounds()
        return first

    async def newest_event_date_ms(self, workspace_sid: str) -> int | None:
        check_text("workspace_sid", workspace_sid)
        return (await self._current()).newest_event_date_ms(workspace_sid)

    async def get(self, sid: str) -> StoredEvent | None:
        check_text("sid", sid)
        index = await self._current()
        seq = index.seq_of(sid)
        if seq is None:
            return None
        cached = index.cached(seq)
        if cached is not None:
            return cached
        try:
            raw = await self._jsm.get_msg(self._stream.name, seq=seq)
        except nats.js.errors.NotFoundError:
            return None  # removed by retention since
        except (nats.errors.Error, TimeoutError) as exc:
            raise EventLogError(f"event log: reading seq {seq} failed: {exc!r}") from None
        return codec.decode(raw.data or b"", seq, _ms(raw.time))

