"""Retries over real HTTP: what is retried, Retry-After, connection failures, and the deadline.

Waits go through an injected sleep that advances a fake monotonic clock, so nothing really sleeps.
"""

from __future__ import annotations

import asyncio
import random
import time

import pytest
from gateway_upstream_scripted import (  # noqa: F401  (fixtures)
    ACCOUNT_SID,
    AUTH_TOKEN,
    DISCONNECT,
    WORKERS,
    FakeTime,
    Reply,
    ScriptedUpstream,
    fake_time,
    refused_port,
    twilio_error,
    upstream,
)

from taskrouter_gateway.upstream import (
    Credentials,
    RetryPolicy,
    UpstreamClient,
    UpstreamConnectionError,
    UpstreamError,
)

WORKER = f"{WORKERS}/WK1"


def client_for(base_url: str, fake: FakeTime, **policy: object) -> UpstreamClient:
    return UpstreamClient(
        Credentials.from_auth_token(ACCOUNT_SID, AUTH_TOKEN),
        taskrouter_base_url=base_url,
        retry_policy=RetryPolicy(**policy),  # type: ignore[arg-type]
        rng=random.Random(42),
        sleep=fake.sleep,
        clock=fake.clock,
    )


def rate_limited(retry_after: str | None = "2") -> Reply:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return twilio_error(429, 20429, "Too Many Requests", headers)


async def test_get_rate_limited_twice_then_succeeds_waiting_retry_after(
    upstream: ScriptedUpstream, fake_time: FakeTime
) -> None:
    upstream.script("GET", WORKER, rate_limited("2"), rate_limited("1"), Reply(json={"sid": "WK1"}))
    async with client_for(upstream.base_url, fake_time) as client:
        response = await client.get(WORKER, deadline=fake_time.clock() + 30)
    assert response.body == {"sid": "WK1"}
    assert len(upstream.seen("GET", WORKER)) == 3
    assert fake_time.waits == [2.0, 1.0]


async def test_retry_after_as_http_date(upstream: ScriptedUpstream, fake_time: FakeTime) -> None:
    upstream.script("GET", WORKER, rate_limited("Wed, 21 Oct 2015 07:28:00 GMT"), Reply(json={}))
    async with client_for(upstream.base_url, fake_time) as client:
        await client.get(WORKER, deadline=fake_time.clock() + 30)
    assert fake_time.waits == [0.0]  # a date in the past: retry at once
    assert len(upstream.requests) == 2


async def test_post_rate_limited_is_not_retried(upstream: ScriptedUpstream, fake_time: FakeTime) -> None:
    upstream.script("POST", WORKER, rate_limited("1"), Reply(json={}))
    async with client_for(upstream.base_url, fake_time) as client:
        with pytest.raises(UpstreamError) as caught:
            await client.post(WORKER, form={"ActivitySid": "WA1"}, deadline=fake_time.clock() + 30)
    assert (caught.value.status, caught.value.retry_after, caught.value.attempts) == (429, 1.0, 1)
    assert len(upstream.seen("POST", WORKER)) == 1
    assert fake_time.waits == []


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_503_is_retried_with_jittered_backoff(
    upstream: ScriptedUpstream, fake_time: FakeTime, method: str
) -> None:
    unavailable = twilio_error(503, 20503, "Service Unavailable")
    upstream.script(method, WORKER, unavailable, unavailable, Reply(status=204))
    async with client_for(upstream.base_url, fake_time, base_delay=0.1, max_delay=2.0) as client:
        response = await client.request(method, WORKER, deadline=fake_time.clock() + 30)
    assert response.status == 204
    assert len(upstream.seen(method, WORKER)) == 3
    assert len(fake_time.waits) == 2
    assert 0 <= fake_time.waits[0] <= 0.1 and 0 <= fake_time.waits[1] <= 0.2
    # Same seed, same waits: the RNG really is the injected one.
    expected = random.Random(42)
    assert fake_time.waits == [expected.uniform(0, 0.1), expected.uniform(0, 0.2)]


async def test_post_503_is_not_retried(upstream: ScriptedUpstream, fake_time: FakeTime) -> None:
    upstream.script("POST", WORKER, twilio_error(503, 20503, "Service Unavailable"), Reply(json={}))
    async with client_for(upstream.base_url, fake_time) as client:
        with pytest.raises(UpstreamError) as caught:
            await client.post(WORKER, deadline=fake_time.clock() + 30)
    assert caught.value.status == 503
    assert len(upstream.requests) == 1


async def test_retries_give_up_after_max_attempts_with_the_last_error(
    upstream: ScriptedUpstream, fake_time: FakeTime
) -> None:
    upstream.script_forever("GET", WORKER, rate_limited("1"))
    async with client_for(upstream.base_url, fake_time, max_attempts=4) as client:
        with pytest.raises(UpstreamError) as caught:
            await client.get(WORKER, deadline=None)  # max_attempts caps only calls without a deadline
    assert (caught.value.status, caught.value.attempts) == (429, 4)
    assert len(upstream.requests) == 4
    assert fake_time.waits == [1.0, 1.0, 1.0]


async def test_with_a_deadline_retries_go_on_past_max_attempts_until_the_deadline(
    upstream: ScriptedUpstream, fake_time: FakeTime
) -> None:
    upstream.script_forever("GET", WORKER, rate_limited("1"))
    async with client_for(upstream.base_url, fake_time, max_attempts=2) as client:
        with pytest.raises(UpstreamError) as caught:
            await client.get(WORKER, deadline=fake_time.clock() + 9.5)
    # Attempts at ~0, 1, ..., 9 s; the wait after the one at ~9 s would pass the deadline.
    assert fake_time.waits == [1.0] * 9
    assert (caught.value.status, caught.value.attempts, len(upstream.requests)) == (429, 10, 10)


async def test_retries_stop_before_a_wait_would_cross_the_deadline(
    upstream: ScriptedUpstream, fake_time: FakeTime
) -> None:
    upstream.script_forever("GET", WORKER, rate_limited("1"))
    async with client_for(upstream.base_url, fake_time, max_attempts=10) as client:
        with pytest.raises(UpstreamError) as caught:
            await client.get(WORKER, deadline=fake_time.clock() + 2.5)
    # Waits of 1 s at ~0 s and ~1 s fit; a third would end at ~3 s, past the 2.5 s deadline.
    assert fake_time.waits == [1.0, 1.0]
    assert len(upstream.requests) == 3
    assert (caught.value.status, caught.value.attempts) == (429, 3)


async def test_long_retry_after_is_surfaced_not_waited(upstream: ScriptedUpstream, fake_time: FakeTime) -> None:
    upstream.script("GET", WORKER, rate_limited("60"), Reply(json={}))
    async with client_for(upstream.base_url, fake_time, max_retry_after=10.0) as client:
        with pytest.raises(UpstreamError) as caught:
            await client.get(WORKER, deadline=None)
    assert (caught.value.status, caught.value.retry_after) == (429, 60.0)
    assert fake_time.waits == [] and len(upstream.requests) == 1


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_server_disconnect_is_retried_for_idempotent_methods(
    upstream: ScriptedUpstream, fake_time: FakeTime, method: str
) -> None:
    upstream.script(method, WORKER, DISCONNECT, DISCONNECT, Reply(json={"ok": True}))
    async with client_for(upstream.base_url, fake_time) as client:
        response = await client.request(method, WORKER, deadline=fake_time.clock() + 30)
    assert response.body == {"ok": True}
    # Exactly our retries: aiohttp's own silent resend is switched off, so 2 waits for 2 disconnects.
    assert len(upstream.seen(method, WORKER)) == 3
    assert len(fake_time.waits) == 2


async def test_server_disconnect_on_post_is_not_retried(upstream: ScriptedUpstream, fake_time: FakeTime) -> None:
    upstream.script("POST", WORKER, DISCONNECT, Reply(json={}))
    async with client_for(upstream.base_url, fake_time) as client:
        with pytest.raises(UpstreamConnectionError) as caught:
            await client.post(WORKER, form={"ActivitySid": "WA1"}, deadline=fake_time.clock() + 30)
    assert caught.value.attempts == 1
    assert len(upstream.seen("POST", WORKER)) == 1
    assert fake_time.waits == []


async def test_connection_refused_is_retried_for_get_until_attempts_run_out(fake_time: FakeTime) -> None:
    port = refused_port()
    async with client_for(f"http://127.0.0.1:{port}", fake_time, max_attempts=3) as client:
        with pytest.raises(UpstreamConnectionError) as caught:
            await client.get(WORKER, deadline=None)
    assert caught.value.attempts == 3 and caught.value.method == "GET" and caught.value.path == WORKER
    assert len(fake_time.waits) == 2


async def test_connection_refused_post_fails_at_once(fake_time: FakeTime) -> None:
    port = refused_port()
    async with client_for(f"http://127.0.0.1:{port}", fake_time) as client:
        with pytest.raises(UpstreamConnectionError) as caught:
            await client.post(WORKER, deadline=fake_time.clock() + 30)
    assert caught.value.attempts == 1 and fake_time.waits == []


async def test_connection_refused_then_server_appears(fake_time: FakeTime) -> None:
    """The retry really reconnects: the server starts listening on the refused port during the wait."""
    server = ScriptedUpstream()
    port = refused_port()
    server.script("GET", WORKER, Reply(json={"sid": "WK1"}))

    async def start_server_then_advance(seconds: float) -> None:
        await fake_time.sleep(seconds)
        if not server.base_url:
            await server.start_on(port)

    client = UpstreamClient(
        Credentials.from_auth_token(ACCOUNT_SID, AUTH_TOKEN),
        taskrouter_base_url=f"http://127.0.0.1:{port}",
        rng=random.Random(1),
        sleep=start_server_then_advance,
        clock=fake_time.clock,
    )
    try:
        async with client:
            response = await client.get(WORKER, deadline=fake_time.clock() + 30)
    finally:
        await server.close()
    assert response.body == {"sid": "WK1"}
    assert len(fake_time.waits) == 1 and len(server.requests) == 1


async def test_cancelling_during_a_retry_wait_propagates(upstream: ScriptedUpstream) -> None:
    upstream.script_forever("GET", WORKER, rate_limited("1"))
    waiting = asyncio.Event()

    async def sleep_until_cancelled(seconds: float) -> None:
        waiting.set()
        await asyncio.Event().wait()

    client = UpstreamClient(
        Credentials.from_auth_token(ACCOUNT_SID, AUTH_TOKEN),
        taskrouter_base_url=upstream.base_url,
        sleep=sleep_until_cancelled,
    )
    async with client:
        task = asyncio.create_task(client.get(WORKER, deadline=time.monotonic() + 30))
        await asyncio.wait_for(waiting.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert len(upstream.requests) == 1
