"""The read front the servicers use: settings, and the cache, the in-flight requests and the queue statistics
batcher it owns; fed by the fan-out's published events."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..settings_base import ConfigError
from .cache import ReadCache
from .inflight import Inflight
from .invalidation import Refs, apply_event, write_tags
from .queue_statistics import QueueStatistics
from .window import RequestWindow

DEFAULT_REALTIME_STALENESS_S = 1.0
BULK_STATISTICS_PER_SECOND = 5  # Twilio's documented limit for bulk real-time queue statistics


@dataclass(frozen=True)
class ReadSettings:
    coalesce: bool = True  # identical concurrent reads share one request
    realtime_statistics_staleness_s: float = DEFAULT_REALTIME_STALENESS_S  # default max_staleness there
    cache_entries: int = 10_000
    cache_bytes: int = 64 << 20

    def validate(self) -> None:
        if not 0 <= self.realtime_statistics_staleness_s <= 3600:
            raise ConfigError("realtime_statistics_staleness must be 0 to 3600 seconds")
        if self.cache_entries < 1 or self.cache_bytes < 1:
            raise ConfigError("read cache entries and bytes must be 1 or more")


class Reads:
    def __init__(self, settings: ReadSettings = ReadSettings(), *, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.cache = ReadCache(max_entries=settings.cache_entries, max_bytes=settings.cache_bytes, clock=clock)
        self.inflight = Inflight()
        self.bulk_window = RequestWindow(BULK_STATISTICS_PER_SECOND, clock=clock)
        self.queue_statistics = QueueStatistics(self.cache, self.bulk_window)
        # How long before this replica applied it the newest applied event was committed to the log: how far
        # behind the log the cache's invalidations run.
        self.event_lag_s = 0.0

    def on_event(self, workspace_sid: str, event_type: str, received_ms: int, refs: Callable[[], Refs | None]) -> None:
        apply_event(self.cache, workspace_sid, event_type, refs)
        self.event_lag_s = max(0.0, time.time() - received_ms / 1000)

    def on_gap(self) -> None:
        """Events were lost before this replica applied them: any answer may be out of date."""
        self.cache.clear()

    def wrote(self, path: str) -> None:
        self.cache.drop(write_tags(path))
