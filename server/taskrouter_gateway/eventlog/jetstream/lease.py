"""A lease in a JetStream key-value bucket, so one replica at a time does a job (gap backfill).

Taking it is a KV create (succeeds only if the key is absent); holding it, an update every ttl/3 that must
find the holder's own last revision; giving it back, a delete of that revision. The bucket's max age is the
ttl, so the lease of a replica that died (SIGKILL, partition) lapses by itself after at most ttl seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import nats.errors
import nats.js.errors
import structlog

from ..log import EventLogError
from .failure import describe
from .kv import open_bucket

_log = structlog.get_logger(__name__)


_TRANSIENT = (
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
)


class LeaseUnavailable(EventLogError):
    """The lease could not be taken before the wait ran out (another replica holds it)."""


class LeaseLost(EventLogError):
    """The lease was taken over (or lapsed) while its body ran: the body was cancelled, since another replica
    may now be doing the same work."""


class KvLeases:
    def __init__(self, js: Any, bucket: str, *, ttl_s: float, replicas: int) -> None:
        if ttl_s < 1:
            raise ValueError("lease ttl must be >= 1 second")
        self._js = js
        self._bucket = bucket
        self._ttl = ttl_s
        self._replicas = replicas
        self._kv: Any = None
        self.owner = f"{socket.gethostname()}:{secrets.token_hex(4)}"
        self.contended = 0  # attempts that found the lease held (tests, metrics)

    async def _store(self) -> Any:
        if self._kv is None:
            # The bucket's max age is the ttl, so a dead holder's lease lapses by itself.
            self._kv = await open_bucket(self._js, self._bucket, replicas=self._replicas, ttl_s=self._ttl)
        return self._kv

    @contextlib.asynccontextmanager
    async def hold(self, key: str, *, wait_s: float = 600.0, poll_s: float = 0.25) -> AsyncIterator[None]:
        """Runs the body while holding `key`; waits up to wait_s for another holder to finish or lapse."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                kv = await self._store()
                revision = await kv.create(key, self.owner.encode())
                break
            except nats.js.errors.KeyWrongLastSequenceError:
                self.contended += 1
                if time.monotonic() > deadline:
                    raise LeaseUnavailable(f"lease {key} is held by another replica") from None
            except _TRANSIENT as exc:
                # A bucket another replica created a moment ago may have no leader yet; so may one in an election.
                if time.monotonic() > deadline:
                    raise LeaseUnavailable(f"lease {key}: the key-value store does not answer ({describe(exc)})") from None
            await asyncio.sleep(poll_s)  # a retry interval while someone else holds it, not a sync point
        _log.info("lease.taken", key=key, owner=self.owner)
        state = {"revision": revision, "lost": 0}
        holder = asyncio.current_task()

        def lost() -> None:
            state["lost"] = 1
            if holder is not None:
                holder.cancel()  # the work it guards must stop: another replica may be doing it now

        renewer = asyncio.create_task(self._renew(kv, key, state, lost), name=f"lease-renew:{key}")
        try:
            yield
        except asyncio.CancelledError:
            if state["lost"] and holder is not None and holder.uncancel() == 0:
                raise LeaseLost(f"lease {key} was lost while its work ran; the work was stopped") from None
            raise
        finally:
            renewer.cancel()
            await asyncio.gather(renewer, return_exceptions=True)
            if not state["lost"]:  # a lost lease is someone else's now: nothing to give back
                try:
                    await kv.delete(key, last=state["revision"])
                    _log.info("lease.released", key=key, owner=self.owner)
                except (nats.errors.Error, TimeoutError) as exc:
                    _log.warning("lease.release_failed", key=key, error=describe(exc))  # it lapses after ttl anyway

    async def _renew(self, kv: Any, key: str, state: dict[str, int], lost: Callable[[], None]) -> None:
        while True:
            await asyncio.sleep(self._ttl / 3)
            try:
                state["revision"] = await kv.update(key, self.owner.encode(), last=state["revision"])
            except nats.js.errors.KeyWrongLastSequenceError:
                _log.warning("lease.lost", key=key, owner=self.owner)
                lost()
                return
            except (nats.errors.Error, TimeoutError) as exc:
                _log.warning("lease.renew_failed", key=key, error=describe(exc))
