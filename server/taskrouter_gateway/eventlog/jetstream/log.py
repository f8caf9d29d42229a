"""EventLog on one NATS JetStream stream, shared by every gateway replica.

Writes: each event is one awaited JetStream publish with `Nats-Msg-Id: <event sid>`, so the broker stores a
sid once even when two replicas receive the same callback; append() returns only after the stream acked it
(on an R3 stream: after a quorum stored it; durable on ack with the servers' `sync_interval: always`).
Awaited publishes, not publish_async: nats-py's async futures never resolve when the server answers with an
error (nats.py issue 985). Concurrency is bounded by a semaphore. A publish of a msg id another replica is
still replicating gets error 10158 and is retried (it then reports the duplicate); one that cannot be acked
before the write timeout (no stream leader, broker unreachable) raises EventLogWriteError, which the webhook
answers with 503.

Nothing is read at start-up in proportion to the stream: a replica asks the broker for the stream's bounds,
starts ONE ordered consumer at the end (never one per subscriber) and serves. The consumer keeps the newest
events in a bounded cache (events.jetstream_recent) and hands new events to commit listeners (the fan-out)
in seq order. Everything else is answered by the broker:

- reads older than the cache: STREAM.MSG.GET, next message on the (workspace) subject at/after a seq;
- `since` (seq_at_or_after): the broker's timestamps are the times it stored each message and never
  decrease with seq; every event was stored no earlier than its TaskRouter date minus the largest lead ever
  seen (events.jetstream_marks). A binary search over seqs by stored time finds where to start, then a
  forward scan finds the first event dated at/after T: exact on event_date, and the scan covers only that
  lead (plus a clock margin) of the stream;
- dedup beyond the broker's duplicate window: an event that old is only appended by a backfill (or a
  replayed callback); dedup_scope reads the workspace's subject from where the backfill's range starts into
  an on-disk set, and a lone old event is looked for the same way. Never a per-event index in memory;
- the completeness marks and the lead, in a small key-value bucket shared by the replicas.

A seq that skips ahead under the consumer means retention removed events before this replica read them:
gap listeners hear of it (the fan-out ends the subscribers that needed them with OUT_OF_RANGE), a counter
counts it, and the replica reports itself not ready until it has caught up with the stream again.

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
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import nats
import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import api

from ... import logs
from . import codec
from .marks import LEAD_KEY, SharedMarks
from .recent import RecentEvents
from .settle import once_formed
from .sid_set import SidSet
from .lease import KvLeases
from ..log import (
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
# How far the broker's clock may run behind the gateway's when it stamps a message: time lookups start this
# much earlier than the largest recorded lead alone would say.
CLOCK_MARGIN_MS: Final = 60_000
_SCAN_BUFFER_BYTES: Final = 32 * 1024 * 1024


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
    # How long a starting replica waits for a cluster that is still placing peers or electing its meta leader.
    forming_wait_s: float = 30.0
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
    max_msgs: int | None = None  # None: no count cap (tests use a small one to force retention)

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"stream name must be 1-32 of A-Z a-z 0-9 _ -, got {self.name!r}")
        if not _PREFIX.fullmatch(self.prefix):
            raise ValueError(f"subject prefix must be dot-separated tokens of A-Z a-z 0-9 _ -, got {self.prefix!r}")
        if self.replicas not in (1, 3):
            raise ValueError(f"replicas must be 1 or 3, got {self.replicas}")
        if self.max_age_ms <= 0 or (self.max_bytes is not None and self.max_bytes <= 0):
            raise ValueError("max_age_ms and max_bytes must be > 0")
        if self.max_msgs is not None and self.max_msgs <= 0:
            raise ValueError("max_msgs must be > 0")
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
            max_msgs=self.max_msgs if self.max_msgs is not None else -1,
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
        differs("max_msgs", have.max_msgs if have.max_msgs is not None else -1, want.max_msgs)
        if not have.deny_delete or not have.deny_purge:
            out.append("deletes or purges are allowed (both must be denied so seqs stay gap-free)")
        if (have.duplicate_window or 0) < self.duplicate_window_s - 0.001:
            out.append(f"duplicate_window is {have.duplicate_window}s (want at least {self.duplicate_window_s}s)")
        return out


def redact_url(url: str) -> str:
    """A NATS URL without its user:password@ or token@ part, for start-up errors."""
    return logs.redact_url(url, mask="***")


def _value(enum_or_str: Any) -> Any:
    return getattr(enum_or_str, "value", enum_or_str)


def _ms(value: Any) -> int:
    return int(value.timestamp() * 1000) if value is not None else 0


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class _Scope:
    """A backfill's dedup scope: every sid of its workspace dated at/after start_ms that the stream holds."""

    start_ms: int
    sids: SidSet
    ready: bool = False


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
        self._cache_size = cache_size
        self._lease_ttl = lease_ttl_s
        self._clock_ms = clock_ms
        self._leases: KvLeases | None = None
        self._marks: SharedMarks | None = None
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._state = "new"
        self._nc: NATS | None = None
        self._js: Any = None
        self._jsm: Any = None
        self._sub: Any = None
        self._log_id: str | None = None
        self._recent: RecentEvents | None = None
        self._acked_max = 0
        self._lead_ms = 0  # the largest (TaskRouter date - broker time) of any stored event, as far as known
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._listeners: list[Callable[[list[StoredEvent]], None]] = []
        self._gap_listeners: list[Callable[[int, int], None]] = []
        self._pending: list[StoredEvent] = []
        self._flush_scheduled = False
        self._appending = 0  # append() calls in progress; close() lets them finish
        self._appends_done = asyncio.Event()
        self._appends_done.set()
        self._scopes: dict[str, list[_Scope]] = {}
        self._head = 1  # the stream's first seq at the last prune()
        self._behind_until = 0  # not ready while the consumer's position is below this (after a gap)
        self._catch_up: asyncio.Task[None] | None = None
        self.gaps = 0  # times retention removed events before this replica read them (metrics, tests)

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def stream_name(self) -> str:
        return self._stream.name

    @property
    def connection(self) -> NATS:
        if self._nc is None:
            raise EventLogClosed("event log is not open")
        return self._nc

    @property
    def position(self) -> int:
        """The last seq this replica's consumer has read."""
        return self._recent.position if self._recent is not None else 0

    @property
    def cached_events(self) -> int:
        """Events held in memory (at most cache_size, whatever the stream holds)."""
        return len(self._recent) if self._recent is not None else 0

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
            # Start at the end: what came before is read from the broker when someone asks for it.
            last = info.state.last_seq
            self._recent = RecentEvents(position=last, cache_size=self._cache_size)
            self._acked_max = last
            self._head = info.state.first_seq if info.state.messages else last + 1
            self._marks = SharedMarks(self._js, f"{self._stream.name}_marks", replicas=self._stream.replicas)
            try:
                self._lead_ms = max(0, await self._marks.get(LEAD_KEY) or 0)
            except EventLogError as exc:
                raise EventLogOpenError(str(exc)) from None
            await self._start_consumer()
        except BaseException:
            self._state = "closed"
            await self._disconnect()
            raise
        self._state = "open"
        _log.info("event_log.opened", backend="nats", stream=self._stream.name, log_id=self._log_id,
                  last_seq=self._recent.position, replicas=self._stream.replicas)

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

        async def find_or_create() -> tuple[Any, bool]:
            try:
                return await self._jsm.stream_info(name), False
            except nats.js.errors.NotFoundError:
                created = await self._jsm.add_stream(self._stream.config())
                _log.info("event_log.stream_created", stream=name, replicas=self._stream.replicas)
                return created, True

        try:
            info, created = await once_formed(find_or_create, within_s=self._nats.forming_wait_s)
            if created:
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
        assert self._recent is not None
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=self._recent.position + 1,
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
        if self._catch_up is not None:
            self._catch_up.cancel()
            await asyncio.gather(self._catch_up, return_exceptions=True)
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

    def _require_open(self) -> RecentEvents:
        # While closing, appends already accepted may still read (to look for earlier copies).
        if self._state not in ("open", "opening") and not (self._state == "closing" and self._appending):
            raise EventLogClosed(f"event log is not open (state: {self._state})")
        assert self._recent is not None
        return self._recent

    def not_ready_reason(self) -> str | None:
        recent = self._recent
        if recent is not None and recent.position < self._behind_until:
            return (f"catching up with the event stream after losing events to retention"
                    f" (at seq {recent.position} of {self._behind_until})")
        return None

    def add_gap_listener(self, listener: Callable[[int, int], None]) -> None:
        self._gap_listeners.append(listener)

    # -- the ordered consumer ----------------------------------------------------------------------

    async def _on_msg(self, msg: Msg) -> None:
        recent = self._recent
        if recent is None:
            return
        meta = msg.metadata
        seq = meta.sequence.stream
        if seq <= recent.position:
            return
        received_ms = _ms(meta.timestamp)
        event: StoredEvent | None
        try:
            event = codec.decode(msg.data, seq, received_ms)
        except codec.UndecodableMessage:
            _log.exception("event_log.undecodable_message", seq=seq)
            event = None
        lost = recent.advance(seq, event)
        if lost is not None:
            self._lost(*lost)
        if event is not None:
            lead = event.event_date_ms - received_ms
            if lead > self._lead_ms:
                self._lead_ms = lead  # its writer recorded it in the shared marks before publishing
            if self._listeners:
                self._pending.append(event)
                if not self._flush_scheduled:
                    self._flush_scheduled = True
                    asyncio.get_running_loop().call_soon(self._flush)
        if self._waiters:
            self._wake_waiters()

    def _lost(self, first: int, last: int) -> None:
        """Events first..last were removed before this replica read them: say so, and catch up."""
        self.gaps += 1
        _log.warning("event_log.gap", stream=self._stream.name, first_lost=first, last_lost=last,
                     lost=last - first + 1)
        if self._pending:
            self._flush()  # what came before the gap reaches listeners first, in seq order
        self._behind_until = max(self._behind_until, last + 1)
        for listener in self._gap_listeners:
            try:
                listener(first, last)
            except Exception:
                _log.exception("event_log.gap_listener_failed")
        if self._catch_up is None or self._catch_up.done():
            self._catch_up = asyncio.get_running_loop().create_task(self._catch_up_after_gap(), name="event-log-catch-up")

    async def _catch_up_after_gap(self) -> None:
        """Not ready until the consumer has read what the stream held once the gap was found."""
        while True:
            try:
                _, last = await self._bounds()
                self._behind_until = max(self._behind_until, last)
                await self._reach(self._behind_until, self._read_timeout * 4, what="catching up after a gap")
                _log.info("event_log.caught_up", stream=self._stream.name, position=self.position)
                return
            except EventLogClosed:
                return
            except EventLogError as exc:
                _log.warning("event_log.catch_up_retry", error=str(exc))  # still not ready; try again

    def _flush(self) -> None:
        # One hand-over per burst: messages delivered back to back reach the fan-out as one list.
        self._flush_scheduled = False
        events, self._pending = self._pending, []
        if not events:
            return
        for listener in self._listeners:
            try:
                listener(events)
            except Exception:
                _log.exception("event_log.listener_failed")

    def _wake_waiters(self) -> None:
        assert self._recent is not None
        position = self._recent.position
        still = []
        for target, waiter in self._waiters:
            if position >= target:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                still.append((target, waiter))
        self._waiters = still

    async def _reach(self, target: int, timeout: float, *, what: str = "reading") -> RecentEvents:
        """Waits until the consumer has read every seq <= target."""
        recent = self._recent
        assert recent is not None
        if recent.position >= target:
            return recent
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append((target, waiter))
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            # Retention may have removed everything up to target, leaving the consumer nothing to read.
            first, _ = await self._bounds()
            if first > target:
                lost = recent.jump_to(first - 1)
                if lost is not None:
                    self._lost(*lost)
                self._wake_waiters()
                return recent
            raise EventLogError(
                f"event log: {what} timed out at seq {recent.position} of {target} (is the NATS stream available?)"
            ) from None
        return recent

    async def _bounds(self) -> tuple[int, int]:
        """(first_seq, last_seq) from the stream leader."""
        try:
            info = await self._jsm.stream_info(self._stream.name)
        except (nats.errors.Error, TimeoutError) as exc:
            raise EventLogError(f"event log: NATS stream {self._stream.name} unavailable: {exc!r}") from None
        state = info.state
        last = state.last_seq
        first = state.first_seq if state.messages else last + 1
        if self._recent is not None:
            self._recent.drop_before(first)
        return first, last

    # -- writes ------------------------------------------------------------------------------------

    def _beyond_broker_dedup(self, ev: NewEvent) -> bool:
        """Whether an earlier copy of this event could be older than the broker's duplicate window.

        A copy was stored no earlier than its date minus the lead; the broker remembers msg ids for the window.
        """
        horizon = self._clock_ms() - int(self._stream.duplicate_window_s * 1000)
        slack = self._lead_ms + CLOCK_MARGIN_MS + int(self._write_timeout * 1000)
        return ev.event_date_ms - slack < horizon

    async def append(self, events: Sequence[NewEvent]) -> list[AppendResult]:
        self._require_open()
        events = list(events)
        for ev in events:
            if not isinstance(ev, NewEvent):
                raise TypeError(f"append takes NewEvent items, got {type(ev).__name__}")
        results: list[AppendResult] = []
        seen: dict[str, int] = {}
        published: list[tuple[str, str, int]] = []  # (workspace, sid, seq)
        self._appending += 1
        self._appends_done.clear()
        try:
            old = [ev for ev in events if self._beyond_broker_dedup(ev)]
            try:
                stored = await self._find_stored(old) if old else {}
            except EventLogError as exc:
                raise EventLogWriteError(f"events not stored: cannot check for earlier copies: {exc}") from None
            for ev in events:
                known = seen.get(ev.sid) or stored.get(ev.sid)
                if known is not None:
                    results.append(AppendResult(known, True))
                    continue
                await self._record_lead(ev)
                result = await self._publish(ev)
                seen[ev.sid] = result.seq
                published.append((ev.workspace_sid, ev.sid, result.seq))
                results.append(result)
        finally:
            # Open dedup scopes learn what was stored, once per call (the broker's window covers the meantime).
            await self._add_to_scopes(published)
            self._appending -= 1
            if not self._appending:
                self._appends_done.set()
        return results

    async def _record_lead(self, ev: NewEvent) -> None:
        """Before an event dated ahead of now is stored, every replica must know time lookups reach that far."""
        lead = ev.event_date_ms - self._clock_ms()
        if lead <= self._lead_ms:
            return
        assert self._marks is not None
        try:
            self._lead_ms = max(self._lead_ms, await self._marks.raise_to(LEAD_KEY, lead))
        except EventLogError as exc:
            raise EventLogWriteError(f"event {ev.sid} not stored: {exc}") from None

    async def _add_to_scopes(self, published: list[tuple[str, str, int]]) -> None:
        for workspace_sid in {ws for ws, _, _ in published}:
            pairs = [(sid, seq) for ws, sid, seq in published if ws == workspace_sid]
            for scope in self._scopes.get(workspace_sid, ()):
                await asyncio.to_thread(scope.sids.add, pairs)

    async def _find_stored(self, events: list[NewEvent]) -> dict[str, int]:
        """sid -> seq of those of `events` the stream already holds, found without a per-event index: in a
        backfill's dedup scope, else by reading the workspace's subject from the event's date on."""
        found: dict[str, int] = {}
        lookups: dict[str, list[NewEvent]] = {}
        scoped: dict[int, tuple[_Scope, list[str]]] = {}  # by id(scope): one on-disk lookup per scope
        for ev in events:
            scope = next((s for s in self._scopes.get(ev.workspace_sid, ())
                          if s.ready and ev.event_date_ms >= s.start_ms), None)
            if scope is not None:
                scoped.setdefault(id(scope), (scope, []))[1].append(ev.sid)
            else:
                lookups.setdefault(ev.workspace_sid, []).append(ev)
        for scope, sids in scoped.values():
            found.update(await asyncio.to_thread(scope.sids.seqs_of, sids))
        for workspace_sid, evs in lookups.items():
            wanted = {ev.sid for ev in evs}
            after, last = await self._since(min(ev.event_date_ms for ev in evs))
            async with contextlib.aclosing(self._scan(after, last, workspace_sid)) as scanned:
                async for stored in scanned:
                    if stored.sid in wanted:
                        found[stored.sid] = stored.seq
                        wanted.discard(stored.sid)
                        if not wanted:
                            break
        return found

    @contextlib.asynccontextmanager
    async def dedup_scope(self, workspace_sid: str, start_ms: int) -> AsyncIterator[None]:
        """Reads the workspace's subject from where `start_ms` begins into an on-disk set: memory stays bounded
        whatever the backfill's range, and the stream is read once per backfill, not once per event."""
        check_text("workspace_sid", workspace_sid)
        check_date(start_ms)
        self._require_open()
        scope = _Scope(start_ms, SidSet())
        # Registered first, so events this replica appends meanwhile are added as they are acked.
        self._scopes.setdefault(workspace_sid, []).append(scope)
        try:
            after, last = await self._since(start_ms)
            batch: list[tuple[str, int]] = []
            async with contextlib.aclosing(self._scan(after, last, workspace_sid)) as scanned:
                async for stored in scanned:
                    if stored.event_date_ms >= start_ms:
                        batch.append((stored.sid, stored.seq))
                        if len(batch) >= 1000:
                            await asyncio.to_thread(scope.sids.add, batch)
                            batch = []
            await asyncio.to_thread(scope.sids.add, batch)
            scope.ready = True
            yield
        finally:
            self._scopes[workspace_sid].remove(scope)
            if not self._scopes[workspace_sid]:
                del self._scopes[workspace_sid]
            await asyncio.to_thread(scope.sids.close)

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
        """JetStream applies retention itself (max_age, max_bytes); this says how many events it removed since the
        previous call (and forgets them from the cache)."""
        self._require_open()
        first, _ = await self._bounds()
        removed = max(0, first - self._head)
        self._head = max(self._head, first)
        return removed

    # -- marks ---------------------------------------------------------------------------------------

    async def complete_until_ms(self, workspace_sid: str) -> int | None:
        check_text("workspace_sid", workspace_sid)
        self._require_open()
        assert self._marks is not None
        return await self._marks.get(f"mark.{codec.token(workspace_sid)}")

    async def mark_complete_until(self, workspace_sid: str, event_date_ms: int) -> int:
        check_text("workspace_sid", workspace_sid)
        check_date(event_date_ms)
        self._require_open()
        assert self._marks is not None
        try:
            return await self._marks.raise_to(f"mark.{codec.token(workspace_sid)}", event_date_ms)
        except EventLogError as exc:
            raise EventLogWriteError(str(exc)) from None

    # -- reads -------------------------------------------------------------------------------------

    async def _fresh(self) -> RecentEvents:
        """The cache once it holds everything this replica has acked (other replicas' writes follow shortly)."""
        self._require_open()
        return await self._reach(self._acked_max, self._read_timeout)

    async def _current(self) -> tuple[RecentEvents, int]:
        """The cache once it holds everything the stream held when called, and the stream's first seq."""
        self._require_open()
        first, last = await self._bounds()
        return await self._reach(max(last, self._acked_max), self._read_timeout), first

    async def read_after(self, seq: int, *, limit: int, workspace_sid: str | None = None) -> list[StoredEvent]:
        check_read_after(seq, limit, workspace_sid)
        recent = await self._fresh()
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

    def _subject(self, workspace_sid: str | None) -> str:
        return (codec.workspace_filter(self._stream.prefix, workspace_sid) if workspace_sid
                else f"{self._stream.prefix}.>")

    async def _read_stream(self, seq: int, limit: int, workspace_sid: str | None, *, below: int) -> list[StoredEvent]:
        """Events older than the cache, from the stream leader: next message on the subject at/after a seq."""
        subject = self._subject(workspace_sid)
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
            try:
                event = codec.decode(raw.data or b"", raw.seq, _ms(raw.time))
            except codec.UndecodableMessage:
                at = raw.seq + 1
                continue
            if workspace_sid is None or event.workspace_sid == workspace_sid:
                out.append(event)
            at = raw.seq + 1
        return out

    async def _scan(self, after: int, upto: int, workspace_sid: str | None) -> AsyncGenerator[StoredEvent, None]:
        """Every event with after < seq <= upto (of one workspace, if given), in seq order: the cached part
        from memory, the rest through one short-lived ordered consumer (a push stream, not a request each)."""
        recent = self._require_open()
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
        subject = self._subject(workspace_sid)
        # One request says whether there is anything to read at all: a consumer with nothing pending would
        # only be found out by a timeout.
        try:
            first = await self._jsm.get_msg(self._stream.name, seq=after + 1, subject=subject, next=True)
        except nats.js.errors.NotFoundError:
            return
        except (nats.errors.Error, TimeoutError) as exc:
            raise EventLogError(f"event log: reading seq {after + 1} failed: {exc!r}") from None
        if first.seq is None or first.seq > upto:
            return
        config = api.ConsumerConfig(deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=first.seq)
        try:
            # No count limit: a client-side drop would make the ordered consumer start over. The server's flow
            # control bounds what is in flight; the byte limit bounds this process's buffer.
            sub = await self._js.subscribe(subject, stream=self._stream.name, ordered_consumer=True, config=config,
                                           idle_heartbeat=1.0, pending_msgs_limit=-1,
                                           pending_bytes_limit=_SCAN_BUFFER_BYTES)
        except (nats.errors.Error, TimeoutError) as exc:
            raise EventLogError(f"event log: cannot read the stream from seq {first.seq}: {exc!r}") from None
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
                    yield codec.decode(msg.data, seq, _ms(meta.timestamp))
                except codec.UndecodableMessage:
                    pass
                if seq >= upto or meta.num_pending == 0:
                    return
        finally:
            try:
                await sub.unsubscribe()
            except Exception:  # the connection may be gone; the server drops the ephemeral consumer anyway
                pass

    async def _stored_ms(self, seq: int) -> int | None:
        """The broker's timestamp of the message at seq (None: removed by retention)."""
        try:
            raw = await self._jsm.get_msg(self._stream.name, seq=seq)
        except nats.js.errors.NotFoundError:
            return None
        except (nats.errors.Error, TimeoutError) as exc:
            raise EventLogError(f"event log: reading seq {seq} failed: {exc!r}") from None
        return _ms(raw.time)

    async def seq_at_or_after(self, event_date_ms: int) -> int:
        check_date(event_date_ms)
        return (await self._since(event_date_ms))[0]

    async def _since(self, event_date_ms: int) -> tuple[int, int]:
        """(the seq just before the first event dated at/after T, the last seq the answer looked at): a
        scan from the first up to the second sees every event dated at/after T the stream held."""
        recent, first = await self._current()
        last = recent.position
        # Every event dated at/after T was stored at/after T - lead - margin: find that seq by bisection over
        # the broker's timestamps (they never decrease with seq), then scan forward for the first date >= T.
        floor_ms = event_date_ms - self._lead_ms - CLOCK_MARGIN_MS
        lo, hi = first, last + 1  # the answer is in [lo, hi]; hi: none stored that late
        while lo < hi:
            mid = (lo + hi) // 2
            cached = recent.cached(mid)
            stored_ms = cached.received_ms if cached is not None else await self._stored_ms(mid)
            if stored_ms is None:  # removed by retention meanwhile: everything up to it is gone too
                lo = mid + 1
            elif stored_ms >= floor_ms:
                hi = mid
            else:
                lo = mid + 1
        async with contextlib.aclosing(self._scan(lo - 1, last, None)) as scanned:
            async for event in scanned:
                if event.event_date_ms >= event_date_ms:
                    return event.seq - 1, last
        return last, last

    async def last_seq(self) -> int:
        return (await self._current())[0].position

    async def first_seq(self) -> int:
        self._require_open()
        first, _ = await self._bounds()
        return first

    async def newest_event_date_ms(self, workspace_sid: str) -> int | None:
        """The date of the workspace's last appended event (the broker answers it from its subject index)."""
        check_text("workspace_sid", workspace_sid)
        self._require_open()
        try:
            raw = await self._jsm.get_last_msg(self._stream.name, self._subject(workspace_sid))
        except nats.js.errors.NotFoundError:
            return None
        except (nats.errors.Error, TimeoutError) as exc:
            raise EventLogError(f"event log: NATS stream {self._stream.name} unavailable: {exc!r}") from None
        try:
            return codec.decode(raw.data or b"", raw.seq or 0, _ms(raw.time)).event_date_ms
        except codec.UndecodableMessage:
            return None

    async def get(self, sid: str) -> StoredEvent | None:
        """Diagnostics and tests only: a scan of the whole stream (no serving path looks events up by sid)."""
        check_text("sid", sid)
        recent, first = await self._current()
        async with contextlib.aclosing(self._scan(first - 1, recent.position, None)) as scanned:
            async for event in scanned:
                if event.sid == sid:
                    return event
        return None
