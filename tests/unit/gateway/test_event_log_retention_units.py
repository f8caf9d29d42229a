"""Retention's units (mutation testing found the day's length untested): a day of retention is
86,400,000 ms, and the default keeps 30 days."""

from __future__ import annotations

from taskrouter_gateway.eventlog.log import DAY_MS, Retention


def test_a_day_is_86_400_000_milliseconds():
    assert DAY_MS == 86_400_000


def test_the_default_retention_is_30_days_of_age_and_no_row_or_byte_limit():
    assert Retention() == Retention(max_age_ms=2_592_000_000, max_rows=None, max_bytes=None)
