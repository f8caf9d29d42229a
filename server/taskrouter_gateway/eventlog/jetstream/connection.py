"""The replica's one NATS connection and the stream on it: connected and the stream created or checked at open;
afterwards asked for the stream's bounds and for single messages (STREAM.MSG.GET, answered by its leader)."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import nats
import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client as NATS

from ..log import EventLogClosed, EventLogError, EventLogOpenError
from . import codec
from .failure import describe
from .options import NatsOptions, StreamOptions, redact_url
from .settle import once_formed

_log = structlog.get_logger(__name__)


def stamp_ms(value: Any) -> int:
    """A broker timestamp (datetime, or None) in epoch ms."""
    return int(value.timestamp() * 1000) if value is not None else 0


class Connection:
    def __init__(self, options: NatsOptions, stream: StreamOptions, *, read_timeout_s: float) -> None:
        self._options = options
        self._stream = stream
        self._read_timeout = read_timeout_s
        self._nc: NATS | None = None
        self._js: Any = None
        self._jsm: Any = None

    @property
    def client(self) -> NATS:
        if self._nc is None:
            raise EventLogClosed("event log is not open")
        return self._nc

    @property
    def js(self) -> Any:
        """The JetStream context (publish, subscribe, key-value buckets); None before connect()."""
        return self._js

    async def connect(self) -> None:
        opts = self._options
        servers = list(opts.servers)
        kwargs: dict[str, Any] = {}
        if opts.credentials_file:
            kwargs["user_credentials"] = opts.credentials_file
        if opts.user:
            kwargs["user"], kwargs["password"] = opts.user, opts.password or ""
        if opts.token:
            kwargs["token"] = opts.token
        try:
            opts.check_credentials()
        except (OSError, ValueError) as exc:
            raise EventLogOpenError(f"NATS credentials file cannot be used: {exc}") from None
        try:
            tls = opts.tls_context()
        except (OSError, ssl.SSLError) as exc:
            raise EventLogOpenError(f"NATS TLS files cannot be loaded: {exc}") from None
        if tls is not None:
            kwargs["tls"] = tls

        newest: Exception | None = None

        async def remember(exc: Exception) -> None:
            # Connection errors surface as failed operations; the client keeps reconnecting. The newest one
            # explains a start-up that ran out of time.
            nonlocal newest
            newest = exc

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
            cause = newest if newest is not None and isinstance(exc, TimeoutError) else exc
            detail = describe(cause)
            shown = ",".join(redact_url(url) for url in servers)
            raise EventLogOpenError(f"cannot connect to NATS at {shown}: {detail}") from None
        self._js = self._nc.jetstream(timeout=self._read_timeout)
        self._jsm = self._nc.jsm(timeout=self._read_timeout)

    async def ensure_stream(self) -> Any:
        """The stream's info, once it exists with settings this log can use (created if absent)."""
        name = self._stream.name

        async def find_or_create() -> tuple[Any, bool]:
            try:
                return await self._jsm.stream_info(name), False
            except nats.js.errors.NotFoundError:
                created = await self._jsm.add_stream(self._stream.config())
                _log.info("event_log.stream_created", stream=name, replicas=self._stream.replicas)
                return created, True

        try:
            info, created = await once_formed(find_or_create, within_s=self._options.forming_wait_s)
            if created:
                return info
        except (nats.errors.Error, TimeoutError) as exc:
            # The server's reason when it gave one; no reason (a 503, no responders, a timeout) is most often a
            # server without JetStream.
            reason = getattr(exc, "description", None) or f"is JetStream enabled on it? ({describe(exc)})"
            raise EventLogOpenError(f"NATS stream {name} cannot be created or read: {reason}") from None
        conflicts = self._stream.conflicts(info.config)
        if conflicts:
            raise EventLogOpenError(f"NATS stream {name} exists with incompatible settings: " + "; ".join(conflicts))
        return info

    async def close(self) -> None:
        if self._nc is not None:
            try:
                await self._nc.close()
            except Exception:
                pass
            self._nc = None

    def subject(self, workspace_sid: str | None) -> str:
        """The subjects of one workspace's events, or of all."""
        return (codec.workspace_filter(self._stream.prefix, workspace_sid) if workspace_sid
                else f"{self._stream.prefix}.>")

    async def bounds(self) -> tuple[int, int]:
        """(first_seq, last_seq) from the stream leader."""
        try:
            info = await self._jsm.stream_info(self._stream.name)
        except (nats.errors.Error, TimeoutError) as exc:
            raise EventLogError(f"event log: NATS stream {self._stream.name} unavailable: {describe(exc)}") from None
        state = info.state
        last = state.last_seq
        first = state.first_seq if state.messages else last + 1
        return first, last

    async def stored_ms(self, seq: int) -> int | None:
        """The broker's timestamp of the message at seq (None: removed by retention)."""
        try:
            raw = await self._jsm.get_msg(self._stream.name, seq=seq)
        except nats.js.errors.NotFoundError:
            return None
        except (nats.errors.Error, TimeoutError) as exc:
            raise EventLogError(f"event log: reading seq {seq} failed: {describe(exc)}") from None
        return stamp_ms(raw.time)

    async def next_message(self, seq: int, subject: str) -> Any | None:
        """The first message on `subject` at/after seq (None: there is none)."""
        try:
            return await self._jsm.get_msg(self._stream.name, seq=seq, subject=subject, next=True)
        except nats.js.errors.NotFoundError:
            return None
        except (nats.errors.Error, TimeoutError) as exc:
            raise EventLogError(f"event log: reading seq {seq} failed: {describe(exc)}") from None

    async def last_message(self, subject: str) -> Any | None:
        """The newest message on `subject` (None: there is none)."""
        try:
            return await self._jsm.get_last_msg(self._stream.name, subject)
        except nats.js.errors.NotFoundError:
            return None
        except (nats.errors.Error, TimeoutError) as exc:
            raise EventLogError(f"event log: NATS stream {self._stream.name} unavailable: {describe(exc)}") from None
