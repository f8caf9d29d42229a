"""What a successful upstream call returns, and Twilio's X-Rate-Limit-* headers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

RATE_LIMIT_PREFIX = "x-rate-limit-"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Twilio's per-resource budget as sent on the reply; fields are None when absent or malformed."""

    limit: int | None = None
    remaining: int | None = None
    config: str | None = None
    # Every X-Rate-Limit-* header, lower-cased name without the prefix -> value, for ones Twilio adds later.
    raw: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> "RateLimit | None":
        raw = {
            name.lower()[len(RATE_LIMIT_PREFIX) :]: value
            for name, value in headers.items()
            if name.lower().startswith(RATE_LIMIT_PREFIX)
        }
        if not raw:
            return None
        return cls(limit=_int(raw.get("limit")), remaining=_int(raw.get("remaining")), config=raw.get("config"), raw=raw)

    def is_low(self, fraction: float, floor: int) -> bool:
        """Remaining at or below `floor`, or at or below `fraction` of the limit when the limit is known."""
        if self.remaining is None:
            return False
        if self.remaining <= floor:
            return True
        return self.limit is not None and self.limit > 0 and self.remaining <= self.limit * fraction

    def log_fields(self) -> dict[str, Any]:
        return {"rate_limit_" + name.replace("-", "_"): value for name, value in self.raw.items()}


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    text = value.strip()
    return int(text) if text.isdigit() else None


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    status: int
    body: dict[str, Any] | None  # parsed JSON object; None for an empty reply (204 on DELETE)
    headers: Mapping[str, str]  # case-insensitive (multidict.CIMultiDictProxy)
    rate_limit: RateLimit | None = None

    @property
    def etag(self) -> str | None:
        """For If-Match on TaskRouter updates (a mismatch is HTTP 412 -> ABORTED)."""
        return self.headers.get("ETag")
