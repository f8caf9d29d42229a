"""Retry policy: what is retried, Retry-After parsing, jitter bounds, the cap, and the deadline rule."""

from __future__ import annotations

import dataclasses
import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskrouter_gateway.upstream.retry import MAX_RETRY_AFTER, RetryPolicy, parse_retry_after

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("0", 0.0),
        ("3", 3.0),
        (" 120 ", 120.0),
        ("1.5", 1.5),
        ("0.0", 0.0),
        # RFC 5322: "-0000" is UTC with no claim about the local zone; "+0100" is an hour ahead of UTC.
        ("Wed, 01 May 2024 12:00:30 -0000", 30.0),
        ("Wed, 01 May 2024 13:00:30 +0100", 30.0),
        ("Wed, 01 May 2024 11:00:30 -0100", 30.0),
        (format_datetime(NOW + timedelta(seconds=7), usegmt=True), 7.0),
        ("Wed, 01 May 2024 12:00:30 GMT", 30.0),
        # A date in the past means "now", not a negative wait.
        ("Wed, 01 May 2024 11:59:00 GMT", 0.0),
    ],
)
def test_retry_after_seconds_and_http_date(header: str, expected: float) -> None:
    assert parse_retry_after(header, now=NOW) == pytest.approx(expected)


@pytest.mark.parametrize(
    "header",
    [
        None, "", "   ", "-1", "soon", "inf", "nan", "Someday, 99 Foo 2024",
        # Digits that are not ASCII: str.isdigit() says yes, float() says no (or reads them as 12).
        "\u00b2", "\u0661\u0662", "1e3", "1_000", "+5", ".5", "1.",
    ],
)
def test_retry_after_garbage_is_ignored(header: str | None) -> None:
    assert parse_retry_after(header, now=NOW) is None


@pytest.mark.parametrize(
    ("method", "status", "retried"),
    [
        ("GET", 429, True),
        ("GET", 503, True),
        ("GET", None, True),  # connection error
        ("DELETE", 429, True),
        ("DELETE", 503, True),
        ("delete", None, True),
        ("POST", 429, False),
        ("POST", 503, False),
        ("POST", None, False),
        ("GET", 500, False),
        ("GET", 502, False),
        ("GET", 404, False),
        ("GET", 400, False),
    ],
)
def test_what_is_retried(method: str, status: int | None, retried: bool) -> None:
    assert RetryPolicy().retryable(method, status) is retried


def test_ceiling_doubles_from_base_then_caps() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=2.0)
    ceilings = [policy.backoff_ceiling(n) for n in range(1, 8)]
    assert ceilings == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0])
    assert policy.backoff_ceiling(10_000) == 2.0  # no overflow for absurd attempt numbers


def test_full_jitter_stays_within_zero_and_ceiling_and_spreads() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=2.0)
    rng = random.Random(1234)
    for attempt, ceiling in [(1, 0.1), (3, 0.4), (9, 2.0)]:
        samples = [policy.backoff(attempt, rng) for _ in range(500)]
        assert all(0.0 <= s <= ceiling for s in samples)
        # Full jitter spans the range: both halves are used, so waits are not all at the ceiling.
        assert min(samples) < ceiling * 0.1 and max(samples) > ceiling * 0.9


def test_seeded_rng_makes_delays_reproducible() -> None:
    policy = RetryPolicy()
    a = [policy.next_delay(n, retry_after=None, now=0, deadline=None, rng=random.Random(7)) for n in (1, 2, 3)]
    b = [policy.next_delay(n, retry_after=None, now=0, deadline=None, rng=random.Random(7)) for n in (1, 2, 3)]
    assert a == b


def test_retry_after_wins_over_backoff() -> None:
    policy = RetryPolicy(max_delay=2.0, max_retry_after=10.0)
    assert policy.next_delay(1, retry_after=5.0, now=0, deadline=None, rng=random.Random(0)) == 5.0


def test_retry_after_beyond_the_limit_stops_retrying() -> None:
    policy = RetryPolicy(max_retry_after=10.0)
    assert policy.next_delay(1, retry_after=10.5, now=0, deadline=None, rng=random.Random(0)) is None


def test_stops_after_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=3)
    rng = random.Random(0)
    assert policy.next_delay(2, retry_after=None, now=0, deadline=None, rng=rng) is not None
    assert policy.next_delay(3, retry_after=None, now=0, deadline=None, rng=rng) is None
    assert RetryPolicy(max_attempts=1).next_delay(1, retry_after=0, now=0, deadline=None, rng=rng) is None


def test_never_waits_up_to_or_past_the_deadline() -> None:
    policy = RetryPolicy()
    rng = random.Random(0)
    assert policy.next_delay(1, retry_after=1.0, now=100.0, deadline=101.5, rng=rng) == 1.0
    assert policy.next_delay(1, retry_after=1.0, now=100.0, deadline=101.0, rng=rng) is None
    assert policy.next_delay(1, retry_after=1.0, now=100.0, deadline=100.5, rng=rng) is None
    assert policy.next_delay(1, retry_after=0.0, now=100.0, deadline=99.0, rng=rng) is None


def test_jittered_wait_is_checked_against_the_deadline_too() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=1.0)
    rng = random.Random(99)
    # Every jittered wait is in [0, 1]; with 0.5 s left the outcome depends on the draw, but a granted
    # wait must always end before the deadline.
    outcomes = [policy.next_delay(1, retry_after=None, now=0.0, deadline=0.5, rng=rng) for _ in range(200)]
    granted = [d for d in outcomes if d is not None]
    assert granted and all(d < 0.5 for d in granted)
    assert any(d is None for d in outcomes)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"base_delay": 0},
        {"base_delay": 3.0, "max_delay": 2.0},
        {"max_retry_after": -1},
    ],
)
def test_bad_policies_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_attempt_numbers_are_one_based() -> None:
    with pytest.raises(ValueError, match="1-based"):
        RetryPolicy().backoff_ceiling(0)


def test_with_a_deadline_attempts_are_uncapped_but_each_retry_needs_time_to_run() -> None:
    policy = RetryPolicy(max_attempts=4, min_attempt_time=0.05)
    rng = random.Random(0)
    assert policy.next_delay(50, retry_after=0.0, now=0.0, deadline=1.5, rng=rng) == 0.0
    assert policy.next_delay(4, retry_after=0.0, now=0.0, deadline=None, rng=rng) is None
    assert policy.next_delay(1, retry_after=1.0, now=0.0, deadline=1.5, rng=rng) == 1.0
    assert policy.next_delay(1, retry_after=1.0, now=0.0, deadline=1.04, rng=rng) is None
    # The last attempt took 0.6 s: another one would not fit after a 1 s wait.
    assert policy.next_delay(1, retry_after=1.0, now=0.0, deadline=1.5, rng=rng, attempt_time=0.6) is None


def test_retry_after_is_capped_not_infinite() -> None:
    # float("9" * 400) is inf; a server that asks for forever is read as asking for the cap.
    assert parse_retry_after("9" * 400, now=NOW) == MAX_RETRY_AFTER
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now=NOW) == MAX_RETRY_AFTER
    assert parse_retry_after("Mon, 01 Jan 0001 00:00:00 +2359", now=NOW) == 0.0


@settings(max_examples=300, deadline=None)
@given(
    header=st.one_of(
        st.text(max_size=60),
        st.text(alphabet="0123456789.", min_size=1, max_size=500),
        st.datetimes(timezones=st.timezones()).map(lambda d: format_datetime(d)),
    ),
    now=st.floats(min_value=0.0, max_value=1e6),
    budget=st.floats(min_value=0.0, max_value=1e6),
)
def test_any_header_gives_a_bounded_wait_or_none(header: str, now: float, budget: float) -> None:
    seconds = parse_retry_after(header, now=NOW)
    assert seconds is None or (math.isfinite(seconds) and 0.0 <= seconds <= MAX_RETRY_AFTER)
    # And the policy never turns it into a wait that reaches the deadline.
    policy = RetryPolicy(max_retry_after=MAX_RETRY_AFTER)
    delay = policy.next_delay(1, retry_after=seconds, now=now, deadline=now + budget, rng=random.Random(0))
    assert delay is None or (0.0 <= delay and now + delay < now + budget)


def test_a_wait_that_ends_exactly_at_the_deadline_is_not_started() -> None:
    # Binary-exact numbers: 1.0 s wait + 0.5 s for the attempt itself lands on the deadline to the bit.
    policy = RetryPolicy(min_attempt_time=0.5)
    rng = random.Random(0)
    assert policy.next_delay(1, retry_after=1.0, now=0.0, deadline=1.5, rng=rng) is None
    assert policy.next_delay(1, retry_after=1.0, now=0.0, deadline=1.5 + 2**-20, rng=rng) == 1.0
    assert policy.next_delay(1, retry_after=1.0, now=0.0, deadline=1.5, rng=rng, attempt_time=0.25) is None


def test_the_default_policy_is_what_the_readme_promises() -> None:
    policy = RetryPolicy()
    rng = random.Random(0)
    # Without a deadline: four attempts in all (TASKROUTER_GATEWAY_UPSTREAM_MAX_ATTEMPTS' default).
    assert policy.next_delay(3, retry_after=None, now=0.0, deadline=None, rng=rng) is not None
    assert policy.next_delay(4, retry_after=None, now=0.0, deadline=None, rng=rng) is None
    # Backoff: the first retry within 100 ms, none ever over 2 s.
    assert policy.backoff_ceiling(1) == 0.1 and policy.backoff_ceiling(30) == 2.0
    # Retry-After is honoured up to 10 s, and a longer one ends the retries.
    assert policy.next_delay(1, retry_after=10.0, now=0.0, deadline=None, rng=rng) == 10.0
    assert policy.next_delay(1, retry_after=10.5, now=0.0, deadline=None, rng=rng) is None
    # An attempt needs at least 50 ms before the deadline to be started.
    assert policy.next_delay(1, retry_after=1.0, now=0.0, deadline=1.04, rng=rng) is None
    assert policy.next_delay(1, retry_after=1.0, now=0.0, deadline=1.06, rng=rng) == 1.0


def test_limits_of_the_policy_itself() -> None:
    assert RetryPolicy(max_retry_after=0).next_delay(
        1, retry_after=0.0, now=0.0, deadline=None, rng=random.Random(0)) == 0.0  # 0: only "retry now"
    with pytest.raises(ValueError, match="max_retry_after"):
        RetryPolicy(max_retry_after=-0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        RetryPolicy().max_attempts = 9  # type: ignore[misc]  # one policy is shared by every request


def test_retry_after_is_capped_at_one_day_exactly() -> None:
    assert parse_retry_after("86400") == 86_400.0
    assert parse_retry_after("86401") == 86_400.0
    assert parse_retry_after("86399.5") == 86_399.5
