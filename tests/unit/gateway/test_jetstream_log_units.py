"""JetStreamEventLog before any broker is involved: the arguments it refuses or accepts at their edges, and what
a log that was never opened (or whose open failed) answers. No nats-server: nothing here needs one."""

from __future__ import annotations

import time

import pytest

from taskrouter_gateway.eventlog.jetstream import log as jetstream_log
from taskrouter_gateway.eventlog.jetstream.log import JetStreamEventLog, NatsOptions
from taskrouter_gateway.eventlog.log import EventLogClosed, EventLogError

OPTIONS = NatsOptions(servers=("nats://127.0.0.1:1",))  # never dialled by these tests


@pytest.mark.parametrize(
    "bad",
    [
        dict(write_timeout_s=0), dict(write_timeout_s=-0.5), dict(read_timeout_s=0), dict(read_timeout_s=-0.5),
        dict(max_in_flight=0), dict(cache_size=0),
    ],
)
def test_each_out_of_range_tuning_value_is_refused_on_its_own(bad: dict) -> None:
    with pytest.raises(ValueError, match="timeouts must be > 0; max_in_flight and cache_size >= 1"):
        JetStreamEventLog(OPTIONS, **bad)


def test_the_smallest_tuning_values_are_accepted() -> None:
    log = JetStreamEventLog(OPTIONS, write_timeout_s=0.5, read_timeout_s=0.5, max_in_flight=1, cache_size=1)
    assert log.position == 0


def test_a_log_needs_a_server_url() -> None:
    with pytest.raises(ValueError, match="at least one NATS server URL"):
        JetStreamEventLog(NatsOptions(servers=()))


def test_a_log_never_opened_answers_its_accessors_with_nothing() -> None:
    log = JetStreamEventLog(OPTIONS)
    assert log.stream_name == "TASKROUTER_EVENTS"
    assert (log.position, log.cached_events, log.gaps) == (0, 0, 0)
    assert log.not_ready_reason() is None
    assert log.leases is None
    with pytest.raises(EventLogClosed, match="not open"):
        log.connection  # noqa: B018 - the property raises


async def test_a_log_never_opened_refuses_reads_and_writes_and_closes_quietly() -> None:
    log = JetStreamEventLog(OPTIONS)
    with pytest.raises(EventLogClosed):
        await log.last_seq()
    await log.close()
    await log.close()  # twice: nothing left to do
    with pytest.raises(EventLogError, match=r"opened once \(state: closed\)"):
        await log.open()


async def test_a_failed_open_leaves_the_log_closed_and_disconnected() -> None:
    from natsutil import free_port

    log = JetStreamEventLog(NatsOptions(servers=(f"nats://127.0.0.1:{free_port()}",), connect_timeout_s=1.0))
    with pytest.raises(EventLogError, match="cannot connect"):
        await log.open()
    with pytest.raises(EventLogError, match=r"opened once \(state: closed\)"):
        await log.open()
    with pytest.raises(EventLogClosed):
        log.connection  # noqa: B018


def test_commit_listeners_are_accepted() -> None:
    assert JetStreamEventLog(OPTIONS).add_commit_listener(lambda events: None) is True


def test_the_default_clock_is_the_wall_clock_in_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    now = jetstream_log._wall_ms()
    after = time.time_ns() // 1_000_000
    assert before <= now <= after


@pytest.mark.parametrize(("ttl_s", "ok"), [(1, True), (1.0, True), (0.999, False), (0, False)])
def test_a_lease_lasts_at_least_a_second(ttl_s, ok) -> None:
    from taskrouter_gateway.eventlog.jetstream.lease import KvLeases

    if ok:
        assert KvLeases(None, "leases", ttl_s=ttl_s, replicas=1).owner
    else:
        with pytest.raises(ValueError, match="lease ttl must be >= 1 second"):
            KvLeases(None, "leases", ttl_s=ttl_s, replicas=1)


def test_a_broker_failure_reads_as_what_the_server_said() -> None:
    import nats.errors
    import nats.js.errors

    from taskrouter_gateway.eventlog.jetstream.failure import describe

    refused = nats.js.errors.BadRequestError(code=400, err_code=10027, description="maximum number of streams reached")
    assert repr(refused) == "BadRequestError()"  # what the log's errors used to show
    assert "err_code=10027" in describe(refused) and "maximum number of streams reached" in describe(refused)
    assert describe(nats.errors.TimeoutError()) == "nats: timeout"
    assert describe(TimeoutError()) == "TimeoutError"  # nothing to say but its kind
