"""What every REST-backed servicer shares: the upstream call, with the RPC's deadline, a CLIENT span and the
"rpc" line's upstream fields; and reads, which go through the read front (reads/) when the app gives one:
served from its cache within the caller's staleness bound, or sharing an identical request in flight.
Errors become statuses in the pipeline (pipeline/chain.py), not here."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from .. import rpc_logging
from ..pipeline import full_method_name, rpc
from ..reads import keys
from ..reads.options import staleness_of
from ..reads.reads import Reads
from ..tracing import PassThrough, Tracing
from ..translate.rest_call import RestCall
from ..upstream import UpstreamClient, UpstreamFailure, UpstreamResponse
from ..validation import Checker

M = TypeVar("M", bound=Message)
CACHE_AGE = "x-cache-age-ms"  # an answer from the cache: its age in whole milliseconds
CACHE = "x-cache"  # "coalesced": the answer of another caller's identical request in flight
COALESCED = ((CACHE, "coalesced"),)


def answered_from_cache(context: grpc.aio.ServicerContext, age_s: float) -> None:
    context.set_trailing_metadata(((CACHE_AGE, str(int(age_s * 1000))),))


class UpstreamServicer:
    def __init__(self, upstream: UpstreamClient, *, tracing: Tracing | PassThrough | None = None,
                 reads: Reads | None = None) -> None:
        """`tracing`: spans and traceparent for upstream calls; None sends no trace headers. `reads`: the read
        front; None sends every read upstream."""
        self._upstream = upstream
        self._tracing = tracing
        self._reads = reads

    async def _read(self, context: grpc.aio.ServicerContext, request: Any, call: RestCall,
                    translate: Callable[[UpstreamResponse], M], *, realtime: bool = False) -> M:
        """A read's answer: from the cache if one within the caller's max_staleness is held, else from
        TaskRouter, sharing an identical request in flight. `realtime`: Twilio documents the figures as
        lagging, so an unset max_staleness means the gateway's default rather than zero."""
        reads = self._reads
        check = Checker()
        if reads is None:
            staleness_of(request, 0.0, check)
            check.done()
            return translate(await self._call(context, call))
        max_age = staleness_of(request, reads.settings.realtime_statistics_staleness_s if realtime else 0.0, check)
        check.done()
        cache = reads.cache
        key = (keys.partition(), keys.call_key(call))
        if max_age > 0:
            hit = cache.get(key, max_age)
            if hit is not None:
                answered_from_cache(context, hit[1])
                return hit[0]
        else:
            cache.counters.misses += 1

        async def fetch() -> M:
            tags = keys.tags_of(call.path)
            epoch, sent = cache.epoch(), cache.clock()
            message = translate(await self._call(context, call))
            cache.put(key, message, fetched_at=sent, size=message.ByteSize(), tags=tags, epoch=epoch)
            return message

        if not reads.settings.coalesce:
            return await fetch()
        message, shared = await reads.inflight.run(key, fetch)
        if shared:
            cache.counters.coalesced += 1
            context.set_trailing_metadata(COALESCED)
        return message

    async def _call(self, context: grpc.aio.ServicerContext | None, call: RestCall) -> UpstreamResponse:
        """`context` None: a request on behalf of several callers (a bulk batch), with the client's own cap
        rather than one caller's deadline."""
        remaining = context.time_remaining() if context is not None else None
        started = time.monotonic()
        deadline = None if remaining is None else started + remaining
        status: int | None = None
        headers = call.headers or None
        tracing = self._tracing
        span = None
        if tracing is not None:
            span, trace_headers = tracing.start_upstream(call.method, call.path)
            if trace_headers:
                headers = {**headers, **trace_headers} if headers else trace_headers
        try:
            reply = await self._upstream.request(
                call.method,
                call.path,
                query=call.query or None,
                form=call.form if call.method == "POST" else None,
                json=call.json,
                headers=headers,
                deadline=deadline,
                base=call.base,  # type: ignore[arg-type]
                read_only=call.read_only,
            )
            status = reply.status
            if not call.read_only and call.method != "GET" and self._reads is not None:
                self._reads.wrote(call.path)
            return reply
        except UpstreamFailure as exc:
            status = getattr(exc, "status", None)
            raise
        finally:
            rpc_logging.record_upstream(status, time.monotonic() - started)
            if tracing is not None and span is not None:
                tracing.end_upstream(span, status)


__all__ = ["UpstreamServicer", "full_method_name", "rpc"]
