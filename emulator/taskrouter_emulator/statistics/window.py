"""The time window of a statistics or Events request: StartDate, EndDate and Minutes (default 15)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .. import defaults, params
from ..errors import bad_parameter

MAX_SPLIT_THRESHOLDS = 20  # SplitByWaitTime: a dashboard asks for a handful of service levels
# Statistics look back at most 30 days ("Historical statistics allow you to analyze data from the past 30
# days"): a longer Minutes is a 400, as the gateway refuses it. The Events list takes more (its page says
# attributes of events older than 43,200 minutes are redacted, so longer windows are meant to be asked for).
MAX_STATISTICS_MINUTES = 43_200
# Twilio's Worker Statistics page: "Minutes cannot be used in combination with StartDate and EndDate
# parameters". The other statistics pages and the Events page are silent; the stricter rule holds for all.
COMBINED = "Minutes cannot be used in combination with StartDate and EndDate parameters"


@dataclass(frozen=True)
class Window:
    start: float  # epoch seconds, inclusive
    end: float | None  # None: up to now


def time_window(query: Mapping[str, str], now: float, *, refuse_inverted: bool = True,
                max_minutes: int | None = None) -> Window:
    """Minutes, or StartDate and/or EndDate, never both kinds (COMBINED); with neither, the last 15 minutes.
    Refuses a StartDate beyond the 30 days the log keeps, and (statistics) an EndDate before the start; the
    Events list answers such a window with no events, as it always has."""
    start = params.date_time(query, "StartDate")
    end = params.date_time(query, "EndDate")
    minutes = params.integer(query, "Minutes", minimum=1, maximum=max_minutes)
    if minutes is not None and (start is not None or end is not None):
        raise bad_parameter(COMBINED)
    oldest = now - defaults.EVENT_RETENTION_SECONDS
    if start is not None and start < oldest:
        raise bad_parameter(
            f"StartDate {params.text(query, 'StartDate')} is more than 30 days in the past; Events are kept for 30 days"
        )
    lower_bounds = [bound for bound in (start, now - minutes * 60 if minutes else None) if bound is not None]
    lower = max(lower_bounds) if lower_bounds else now - defaults.DEFAULT_EVENT_MINUTES * 60
    if refuse_inverted and end is not None and end < lower:
        raise bad_parameter(f"EndDate {params.text(query, 'EndDate')} is before the start of the window")
    return Window(lower, end)


def split_thresholds(query: Mapping[str, str]) -> tuple[int, ...] | None:
    """SplitByWaitTime: comma-separated whole seconds, e.g. "5,10,30"; None when not asked for."""
    value = params.text(query, "SplitByWaitTime")
    if value is None:
        return None
    found: list[int] = []
    for part in value.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 1:
            raise bad_parameter(f"SplitByWaitTime must be positive whole seconds separated by commas, got {value!r}")
        if int(part) not in found:
            found.append(int(part))
    if len(found) > MAX_SPLIT_THRESHOLDS:
        raise bad_parameter(f"SplitByWaitTime takes at most {MAX_SPLIT_THRESHOLDS} thresholds, got {len(found)}")
    return tuple(sorted(found))
