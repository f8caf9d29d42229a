"""One log line per RPC, with the RPC's method and request id bound to every line logged while it runs.

The pipeline's logging step (pipeline/steps.py) calls these; services.base reports each upstream call.
"""

from __future__ import annotations

import logging
import random
import time
from contextvars import ContextVar

import grpc
import structlog

from .cached_logger import CachedLogger

log = CachedLogger("taskrouter_gateway.rpc")

REQUEST_ID_KEY = "x-request-id"

# (HTTP status or None, seconds) of the RPC's last upstream call, for its log line. Every grpc.aio RPC runs
# in a task of its own with its own copy of the context, so this (like the bound contextvars) ends with it.
_upstream: ContextVar[tuple[int | None, float] | None] = ContextVar("taskrouter_gateway_rpc_upstream", default=None)


def request_id(context: grpc.aio.ServicerContext) -> str:
    """The caller's x-request-id when it is a sane length, else a fresh one."""
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_KEY and isinstance(value, str) and 0 < len(value) <= 128:
            return value
    # Correlation only, not a secret: 128 random bits without uuid4's os.urandom call and UUID object.
    return f"{random.getrandbits(128):032x}"


def code_of(context: grpc.aio.ServicerContext, unset: str = "OK") -> str:
    """The status the RPC ends with; `unset` when the handler set none (it returned, or raised past us)."""
    code = context.code()
    return code.name if isinstance(code, grpc.StatusCode) else unset


def begin(method: str, context: grpc.aio.ServicerContext) -> None:
    """Binds rpc_method and request_id for every line logged during the RPC. No unbinding: see _upstream."""
    structlog.contextvars.bind_contextvars(rpc_method=method, request_id=request_id(context))
    _upstream.set(None)


def record_upstream(status: int | None, seconds: float) -> None:
    """Called after each upstream call; the RPC's log line reports the last one."""
    _upstream.set((status, seconds))


def log_unary(code: str, started: float) -> None:
    """The one "rpc" line: code, latency_ms and, if upstream was called, upstream_status and upstream_ms."""
    if not log.enabled(logging.INFO):
        return
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    upstream = _upstream.get()
    if upstream is None:
        log.get().info("rpc", code=code, latency_ms=latency_ms)
    else:
        log.get().info(
            "rpc",
            code=code,
            latency_ms=latency_ms,
            upstream_status=upstream[0],
            upstream_ms=round(upstream[1] * 1000, 2),
        )
