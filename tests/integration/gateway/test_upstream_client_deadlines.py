"""Deadlines and cancellation over real HTTP: the upstream request is really abandoned, never shielded."""

from __future__ import annotations

import asyncio
import time

import pytest
from gateway_upstream_scripted import (  # noqa: F401  (fixtures)
    ACCOUNT_SID,
    AUTH_TOKEN,
    HANG,
    WORKERS,
    Reply,
    ScriptedUpstream,
    upstream,
)

from taskrouter_gateway.upstream import Credentials, UpstreamClient, UpstreamTimeout


def client_for(server: ScriptedUpstream, **kwargs: object) -> UpstreamClient:
    return UpstreamClient(
        Credentials.from_auth_token(ACCOUNT_SID, AUTH_TOKEN), taskrouter_base_url=server.base_url, **kwargs
    )


async def test_slow_upstream_and_short_deadline_times_out_and_cancels_the_request(
    upstream: ScriptedUpstream,
) -> None:
    upstream.script("GET", WORKERS, HANG)
    async with client_for(upstream) as client:
        with pytest.raises(UpstreamTimeout) as caught:
            await client.get(WORKERS, deadline=time.monotonic() + 0.2)
        # The upstream handler is cancelled because the client dropped the connection.
        await asyncio.wait_for(upstream.cancelled.wait(), 5)
    assert (caught.value.method, caught.value.path, caught.value.attempts) == ("GET", WORKERS, 1)
    assert len(upstream.requests) == 1


async def test_a_timed_out_get_is_not_retried(upstream: ScriptedUpstream) -> None:
    upstream.script("GET", WORKERS, HANG, Reply(json={}))
    async with client_for(upstream) as client:
        with pytest.raises(UpstreamTimeout):
            await client.get(WORKERS, deadline=time.monotonic() + 0.2)
    assert len(upstream.requests) == 1


async def test_default_timeout_applies_without_a_deadline(upstream: ScriptedUpstream) -> None:
    upstream.script("POST", WORKERS, HANG)
    async with client_for(upstream, default_timeout=0.2) as client:
        with pytest.raises(UpstreamTimeout):
            await client.post(WORKERS, form={"FriendlyName": "x"}, deadline=None)
        await asyncio.wait_for(upstream.cancelled.wait(), 5)


async def test_an_expired_deadline_raises_without_calling(upstream: ScriptedUpstream) -> None:
    async with client_for(upstream) as client:
        with pytest.raises(UpstreamTimeout) as caught:
            await client.get(WORKERS, deadline=time.monotonic() - 0.001)
    assert caught.value.attempts == 0
    assert upstream.requests == []


async def test_outer_cancellation_propagates_and_cancels_the_upstream_request(upstream: ScriptedUpstream) -> None:
    upstream.script("GET", WORKERS, HANG)
    async with client_for(upstream) as client:
        task = asyncio.create_task(client.get(WORKERS, deadline=None))
        await asyncio.wait_for(upstream.arrived.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()
        await asyncio.wait_for(upstream.cancelled.wait(), 5)


async def test_client_still_works_after_a_cancelled_request(upstream: ScriptedUpstream) -> None:
    upstream.script("GET", WORKERS, HANG, Reply(json={"workers": []}))
    async with client_for(upstream) as client:
        task = asyncio.create_task(client.get(WORKERS, deadline=None))
        await asyncio.wait_for(upstream.arrived.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        response = await client.get(WORKERS, deadline=time.monotonic() + 10)
    assert response.body == {"workers": []}
    # The cancelled request's connection was dropped, not returned to the pool half-read.
    assert len(upstream.peers) == 2
