"""Retry policy: which failures to retry and how long to wait. Pure: the caller owns the clock and the RNG."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

# POST is not idempotent at Twilio (a retried create makes two tasks), so only these are retried.
IDEMPOTENT_METHODS = frozenset({"GET", "DELETE"})
RETRY_STATUSES = frozenset({429, 503})


# A server asking for a longer wait than this is told about as if it had said this: nobody waits it out, and
# a bounded value keeps RetryInfo (a protobuf Duration) and the log line finite.
MAX_RETRY_AFTER = 86_400.0
# RFC 9110 delta-seconds is ASCII digits; a fraction is tolerated (some proxies send one). Not float()'s
# grammar: that takes "1e999", "1_0", " inf" and non-ASCII digits such as "١٢".
_DELTA_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), in [0, MAX_RETRY_AFTER];
    None if absent or malformed. Never raises, whatever the header holds."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _DELTA_SECONDS.fullmatch(text):
        # float() of a long digit string is inf, not an error: cap it.
        return min(float(text), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" means UTC in RFC 5322
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    try:
        seconds = (when - now).total_seconds()
    except OverflowError:
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter; Retry-After wins when the server sends one."""

    # Attempts for a call without a deadline; a call with one retries until the deadline would pass.
    max_attempts: int = 4
    base_delay: float = 0.1
    max_delay: float = 2.0
    # A Retry-After longer than this is not waited out: the caller gets RESOURCE_EXHAUSTED + RetryInfo.
    max_retry_after: float = 10.0
    # A retry is only worth starting with this much time left after the wait (or the last attempt's
    # duration, if longer): else it would most likely end in DEADLINE_EXCEEDED and hide the real failure.
    min_attempt_time: float = 0.05
    retry_statuses: frozenset[int] = field(default=RETRY_STATUSES)
    retry_methods: frozenset[str] = field(default=IDEMPOTENT_METHODS)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if not 0 < self.base_delay <= self.max_delay:
            raise ValueError(f"need 0 < base_delay <= max_delay, got {self.base_delay} and {self.max_delay}")
        if self.max_retry_after < 0:
            raise ValueError(f"max_retry_after must be >= 0, got {self.max_retry_after}")

    def retryable(self, method: str, status: int | None, *, read_only: bool = False) -> bool:
        """status None means a connection error (nothing or a broken reply came back). `read_only` opts a
        request whose method is not idempotent in general (a POST that only reads) into retries."""
        if not read_only and method.upper() not in self.retry_methods:
            return False
        return status is None or status in self.retry_statuses

    def backoff_ceiling(self, attempt: int) -> float:
        """Upper bound of the jittered wait after failed attempt number `attempt` (1-based)."""
        if attempt < 1:
            raise ValueError(f"attempt is 1-based, got {attempt}")
        # min() before the power would overflow for silly attempt counts.
        exponent = min(attempt - 1, 62)
        return min(self.max_delay, self.base_delay * (2**exponent))

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, ceiling]."""
        return rng.uniform(0.0, self.backoff_ceiling(attempt))

    def next_delay(
        self,
        attempt: int,
        *,
        retry_after: float | None,
        now: float,
        deadline: float | None,
        rng: random.Random,
        attempt_time: float = 0.0,
    ) -> float | None:
        """Seconds to sleep before attempt `attempt + 1`, or None to stop and surface the last failure.

        `now` and `deadline` are on the same monotonic clock. With a deadline, attempts go on for as long as
        it allows: a wait that would reach it is never started (it could only end in DEADLINE_EXCEEDED, hiding
        the real failure). `max_attempts` caps only calls without a deadline.
        """
        if deadline is None and attempt >= self.max_attempts:
            return None
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return None
            delay = retry_after
        else:
            delay = self.backoff(attempt, rng)
        if deadline is not None and now + delay + max(attempt_time, self.min_attempt_time) >= deadline:
            return None
        return delay
