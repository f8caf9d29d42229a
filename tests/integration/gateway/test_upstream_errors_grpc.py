"""Upstream failures reach a real gRPC client as rich statuses: errors.abort on a real grpc.aio server,
errors.error_info_from / retry_delay_from on the client side, upstream errors from a real HTTP upstream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest
import pytest_asyncio
from gateway_upstream_scripted import (  # noqa: F401  (fixtures)
    ACCOUNT_SID,
    AUTH_TOKEN,
    HANG,
    WORKERS,
    ScriptedUpstream,
    refused_port,
    twilio_error,
    upstream,
)

from taskrouter_gateway import errors
from taskrouter_gateway.upstream import Credentials, UpstreamClient, UpstreamFailure

Behaviour = Callable[[grpc.aio.ServicerContext], Awaitable[bytes]]
METHOD = "/gateway.test.Probe/Call"


class ProbeServer:
    """A grpc.aio server with one bytes-in/bytes-out method whose behaviour each test sets."""

    def __init__(self) -> None:
        self.behaviour: Behaviour | None = None
        self.server = grpc.aio.server()
        handler = grpc.method_handlers_generic_handler(
            "gateway.test.Probe", {"Call": grpc.unary_unary_rpc_method_handler(self._call)}
        )
        self.server.add_generic_rpc_handlers((handler,))
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    async def _call(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        assert self.behaviour is not None
        return await self.behaviour(context)


@pytest_asyncio.fixture
async def probe() -> AsyncIterator[ProbeServer]:
    server = ProbeServer()
    await server.server.start()
    try:
        yield server
    finally:
        await server.server.stop(0)


async def call(probe: ProbeServer, timeout: float = 10.0) -> grpc.aio.AioRpcError:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{probe.port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await channel.unary_unary(METHOD)(b"", timeout=timeout)
    return caught.value


def upstream_backed(client: UpstreamClient, path: str) -> Behaviour:
    """What a servicer does: convert the gRPC deadline, call upstream, map any failure via errors.py."""

    async def behaviour(context: grpc.aio.ServicerContext) -> bytes:
        remaining = context.time_remaining()
        deadline = None if remaining is None else time.monotonic() + remaining
        try:
            await client.get(path, deadline=deadline)
        except UpstreamFailure as exc:
            await errors.abort(context, errors.status_for(exc))
        return b"ok"

    return behaviour


@pytest_asyncio.fixture
async def client(upstream: ScriptedUpstream) -> AsyncIterator[UpstreamClient]:
    async with UpstreamClient(
        Credentials.from_auth_token(ACCOUNT_SID, AUTH_TOKEN), taskrouter_base_url=upstream.base_url
    ) as c:
        yield c


async def test_twilio_404_arrives_as_not_found_with_error_info(
    probe: ProbeServer, upstream: ScriptedUpstream, client: UpstreamClient
) -> None:
    path = f"{WORKERS}/WKmissing"
    upstream.script("GET", path, twilio_error(404, 20404, "The requested resource was not found"))
    probe.behaviour = upstream_backed(client, path)
    error = await call(probe)
    assert error.code() is grpc.StatusCode.NOT_FOUND
    assert error.details() == "The requested resource was not found"
    info, bad_request = errors.error_info_from(error)
    assert bad_request is None
    assert (info.reason, info.domain) == ("TWILIO_NOT_FOUND", "taskrouter.twilio.com")
    assert dict(info.metadata) == {
        "http_status": "404",
        "twilio_code": "20404",
        "more_info": "https://www.twilio.com/docs/errors/20404",
    }
    assert errors.retry_delay_from(error) is None


async def test_rate_limited_post_carries_retry_info(
    probe: ProbeServer, upstream: ScriptedUpstream, client: UpstreamClient
) -> None:
    upstream.script("POST", WORKERS, twilio_error(429, 20429, "Too Many Requests", {"Retry-After": "3"}))

    async def behaviour(context: grpc.aio.ServicerContext) -> bytes:
        try:
            await client.post(WORKERS, form={"FriendlyName": "x"}, deadline=None)
        except UpstreamFailure as exc:
            await errors.abort(context, errors.status_for(exc))
        return b"ok"

    probe.behaviour = behaviour
    error = await call(probe)
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    info, _ = errors.error_info_from(error)
    assert info.reason == "TWILIO_RATE_LIMITED" and info.metadata["twilio_code"] == "20429"
    assert errors.retry_delay_from(error) == 3.0


async def test_grpc_deadline_becomes_upstream_timeout_and_deadline_exceeded(
    probe: ProbeServer, upstream: ScriptedUpstream, client: UpstreamClient
) -> None:
    upstream.script("GET", WORKERS, HANG)
    probe.behaviour = upstream_backed(client, WORKERS)
    error = await call(probe, timeout=0.3)
    # The client's own deadline fires too; either way the code is DEADLINE_EXCEEDED ...
    assert error.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    # ... and the gateway really abandoned the upstream request.
    await asyncio.wait_for(upstream.cancelled.wait(), 5)


async def test_upstream_timeout_is_deadline_exceeded_with_error_info(
    probe: ProbeServer, upstream: ScriptedUpstream, client: UpstreamClient
) -> None:
    upstream.script("GET", WORKERS, HANG)

    async def behaviour(context: grpc.aio.ServicerContext) -> bytes:
        try:  # a tighter budget than the RPC's, so the status is the gateway's, not the client's own
            await client.get(WORKERS, deadline=time.monotonic() + 0.2)
        except UpstreamFailure as exc:
            await errors.abort(context, errors.status_for(exc))
        return b"ok"

    probe.behaviour = behaviour
    error = await call(probe, timeout=30)
    assert error.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    info, _ = errors.error_info_from(error)
    assert info.reason == "UPSTREAM_TIMEOUT"


async def test_unreachable_upstream_is_unavailable(probe: ProbeServer) -> None:
    async def no_sleep(seconds: float) -> None:
        return None

    async with UpstreamClient(
        Credentials.from_auth_token(ACCOUNT_SID, AUTH_TOKEN),
        taskrouter_base_url=f"http://127.0.0.1:{refused_port()}",
        sleep=no_sleep,
    ) as unreachable:
        probe.behaviour = upstream_backed(unreachable, WORKERS)
        error = await call(probe)
    assert error.code() is grpc.StatusCode.UNAVAILABLE
    info, _ = errors.error_info_from(error)
    assert info.reason == "UPSTREAM_UNREACHABLE"
    assert "127.0.0.1" not in error.details()


async def test_invalid_argument_round_trips_field_violations(probe: ProbeServer) -> None:
    async def behaviour(context: grpc.aio.ServicerContext) -> bytes:
        await errors.abort(
            context, errors.invalid_argument([("page_size", "must be <= 1000"), ("sid", "must be a WK SID")])
        )

    probe.behaviour = behaviour
    error = await call(probe)
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "page_size" in error.details() and "sid" in error.details()
    info, bad_request = errors.error_info_from(error)
    assert info.reason == "INVALID_ARGUMENT"
    assert bad_request is not None
    assert [(v.field, v.description) for v in bad_request.field_violations] == [
        ("page_size", "must be <= 1000"),
        ("sid", "must be a WK SID"),
    ]


async def test_error_info_from_a_plain_status_is_a_clear_error(probe: ProbeServer) -> None:
    async def behaviour(context: grpc.aio.ServicerContext) -> bytes:
        await context.abort(grpc.StatusCode.INTERNAL, "no details here")

    probe.behaviour = behaviour
    error = await call(probe)
    with pytest.raises(ValueError, match="grpc-status-details-bin"):
        errors.error_info_from(error)
