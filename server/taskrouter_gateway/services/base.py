"""What every REST-backed servicer shares: the upstream call, with the RPC's deadline, a CLIENT span and the
"rpc" line's upstream fields. Errors become statuses in the pipeline (pipeline/chain.py), not here."""

from __future__ import annotations

import time

import grpc

from .. import rpc_logging
from ..pipeline import full_method_name, rpc
from ..tracing import PassThrough, Tracing
from ..translate.rest_call import RestCall
from ..upstream import UpstreamClient, UpstreamFailure, UpstreamResponse


class UpstreamServicer:
    def __init__(self, upstream: UpstreamClient, *, tracing: Tracing | PassThrough | None = None) -> None:
        """`tracing`: spans and traceparent for upstream calls; None sends no trace headers."""
        self._upstream = upstream
        self._tracing = tracing

    async def _call(self, context: grpc.aio.ServicerContext, call: RestCall) -> UpstreamResponse:
        remaining = context.time_remaining()
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
            return reply
        except UpstreamFailure as exc:
            status = getattr(exc, "status", None)
            raise
        finally:
            rpc_logging.record_upstream(status, time.monotonic() - started)
            if tracing is not None and span is not None:
                tracing.end_upstream(span, status)


__all__ = ["UpstreamServicer", "full_method_name", "rpc"]
