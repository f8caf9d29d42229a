"""Writes: each event is one awaited JetStream publish with `Nats-Msg-Id: <event sid>`.

The broker stores a sid once even when two replicas receive the same callback; append() returns only after the
stream acked it (on an R3 stream: after a quorum stored it; durable on ack with the servers'
`sync_interval: always`). Awaited publishes, not publish_async: nats-py's async futures never resolve when the
server answers with an error (nats.py issue 985). Concurrency is bounded by a semaphore. A publish of a msg id
another replica is still replicating gets error 10158 and is retried (it then reports the duplicate); one that
cannot be acked before the write timeout (no stream leader, broker unreachable) raises EventLogWriteError,
which the webhook answers with 503. Events older than the broker's duplicate window are looked for first
(dedup.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Final

import nats.errors
import nats.js.errors
import structlog

from ..log import AppendResult, EventLogError, EventLogWriteError, NewEvent
from . import codec
from .connection import Connection
from .consumer import Consumer
from .dedup import Deduper
from .failure import describe
from .lifecycle import Lifecycle
from .marks import Lead
from .options import StreamOptions

_log = structlog.get_logger(__name__)

ERR_DUPLICATE_IN_PROCESS: Final = 10158  # "duplicate message id is in process": another publish still replicating
_RETRY_PAUSE_S: Final = 0.05


class Appender:
    def __init__(
        self,
        connection: Connection,
        stream: StreamOptions,
        lifecycle: Lifecycle,
        consumer: Consumer,
        deduper: Deduper,
        lead: Lead,
        *,
        max_in_flight: int,
        write_timeout_s: float,
        clock_ms: Callable[[], int],
    ) -> None:
        self._connection = connection
        self._stream = stream
        self._lifecycle = lifecycle
        self._consumer = consumer
        self._deduper = deduper
        self._lead = lead
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._write_timeout = write_timeout_s
        self._clock_ms = clock_ms

    async def append(self, events: Sequence[NewEvent]) -> list[AppendResult]:
        events = list(events)
        for ev in events:
            if not isinstance(ev, NewEvent):
                raise TypeError(f"append takes NewEvent items, got {type(ev).__name__}")
        results: list[AppendResult] = []
        seen: dict[str, int] = {}
        published: list[tuple[str, str, int]] = []  # (workspace, sid, seq)
        self._lifecycle.append_started()
        try:
            old = [ev for ev in events if self._deduper.beyond_broker_dedup(ev)]
            try:
                stored = await self._deduper.find_stored(old) if old else {}
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
            try:
                # Open dedup scopes learn what was stored, once per call (the broker's window covers the meantime).
                await self._deduper.learn(published)
            except Exception:  # noqa: BLE001 - what was stored stays stored and acknowledged
                # A scope that missed these (its temporary file could not grow) falls back on the broker's
                # duplicate window, which outlasts any backfill; failing the append would only make callers retry.
                _log.exception("event_log.dedup_learn_failed", events=len(published))
            finally:
                self._lifecycle.append_ended()
        return results

    async def _record_lead(self, ev: NewEvent) -> None:
        """Before an event dated ahead of now is stored, every replica must know time lookups reach that far."""
        try:
            await self._lead.record(ev.event_date_ms - self._clock_ms())
        except EventLogError as exc:
            raise EventLogWriteError(f"event {ev.sid} not stored: {exc}") from None

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
                    ack = await self._connection.js.publish(subject, data, timeout=min(remaining, 2.0),
                                                            headers=headers, stream=self._stream.name)
                    break
                except nats.js.errors.APIError as exc:
                    if exc.err_code != ERR_DUPLICATE_IN_PROCESS and exc.code not in (503, 500):
                        raise EventLogWriteError(f"event {ev.sid} not stored: {exc.description}") from None
                except (nats.errors.TimeoutError, nats.js.errors.NoStreamResponseError,
                        nats.errors.ConnectionReconnectingError, nats.errors.NoRespondersError):
                    pass  # no leader (election) or link down: retry the same msg id; the broker dedups it
                except (nats.errors.ConnectionClosedError, nats.errors.Error) as exc:
                    raise EventLogWriteError(f"event {ev.sid} not stored: {describe(exc)}") from None
                await asyncio.sleep(min(_RETRY_PAUSE_S, max(deadline - time.monotonic(), 0)))
        self._consumer.acked(ack.seq)
        return AppendResult(ack.seq, bool(ack.duplicate))
