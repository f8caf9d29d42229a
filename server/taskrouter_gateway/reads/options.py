"""How stale an answer a read accepts: ReadOptions.max_staleness, or the method's default."""

from __future__ import annotations

from typing import Any

from ..validation import Checker

MAX_STALENESS_S = 3600.0
FIELD = "read_options.max_staleness"
_NANOS = 1_000_000_000


def staleness_of(request: Any, default_s: float, check: Checker) -> float:
    """Seconds the caller accepts. Reports a malformed, negative or over-long Duration on `check`."""
    if not request.HasField("read_options") or not request.read_options.HasField("max_staleness"):
        return default_s
    duration = request.read_options.max_staleness
    seconds, nanos = duration.seconds, duration.nanos
    if not -_NANOS < nanos < _NANOS or (seconds > 0 and nanos < 0) or (seconds < 0 and nanos > 0):
        check.fail(FIELD, "is not a valid Duration: nanos must be within ±999,999,999 and share the sign of seconds")
        return 0.0
    value = seconds + nanos / _NANOS
    if value < 0:
        check.fail(FIELD, f"must not be negative, got {value:g} s")
        return 0.0
    if value > MAX_STALENESS_S:
        check.fail(FIELD, f"must be at most {MAX_STALENESS_S:g} s (1 hour), got {value:g} s")
        return 0.0
    return value
