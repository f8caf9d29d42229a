"""The JetStream log's connection on its own, against real nats-servers: what each single-message request
answers where the stream has nothing (None, never an error), what each one raises once the broker is gone (an
EventLogError naming the request, never a nats.py exception), and how connecting and creating the stream fail.

The log's own tests reach these paths only at the edges they happen to cross; here every request is asked
directly. Messages are published with the plain JetStream client, as any writer on the subjects would."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from natsutil import NatsCluster, NatsNode, wait_for
from test_event_log_jetstream_gaps import fresh_stream

from taskrouter_gateway.eventlog.jetstream.connection import Connection
from taskrouter_gateway.eventlog.jetstream.options import NatsOptions, StreamOptions
from taskrouter_gateway.eventlog.log import EventLogError, EventLogOpenError

async def _connected(urls: list[str], stream: StreamOptions, **options: object) -> Connection:
    connection = Connection(NatsOptions(servers=tuple(urls), **options), stream,  # type: ignore[arg-type]
                            read_timeout_s=2.0)
    await connection.connect()
    await connection.ensure_stream()
    return connection


@pytest.fixture
async def connection(nats_single: NatsCluster) -> AsyncIterator[Connection]:
    stream = fresh_stream(max_msgs=3)
    opened = await _connected(nats_single.urls, stream)
    yield opened
    await opened.close()


async def _publish(connection: Connection, workspace: str, count: int) -> list[int]:
    prefix = connection.subject(None)[:-2]
    return [(await connection.js.publish(f"{prefix}.{workspace}.task.created", b"x")).seq for _ in range(count)]


async def test_requests_where_the_stream_holds_nothing_answer_none(connection: Connection) -> None:
    assert await connection.bounds() == (1, 0)  # empty: first is one past last
    assert await connection.next_message(1, connection.subject(None)) is None
    assert await connection.last_message(connection.subject("WSA")) is None
    assert await connection.stored_ms(1) is None
    before = time.time_ns() // 1_000_000
    await _publish(connection, "WSA", 2)
    await _publish(connection, "WSB", 3)  # max_msgs 3: seqs 1 and 2 (all of WSA) are removed
    assert await connection.bounds() == (3, 5)
    assert await connection.stored_ms(1) is None  # removed by retention
    assert await connection.stored_ms(6) is None  # not written yet
    stored = await connection.stored_ms(4)
    assert stored is not None and stored >= before - 5_000
    assert await connection.next_message(1, connection.subject("WSA")) is None
    nxt = await connection.next_message(1, connection.subject("WSB"))
    assert nxt is not None and nxt.seq == 3
    last = await connection.last_message(connection.subject("WSB"))
    assert last is not None and last.seq == 5


async def test_every_request_to_a_broker_that_is_gone_is_an_event_log_error(tmp_path: Path) -> None:
    cluster = NatsCluster(tmp_path, size=1).start()
    try:
        connection = await _connected(cluster.urls, fresh_stream())
        await _publish(connection, "WSA", 1)
        cluster.nodes[0].kill()
        for name, request in [("bounds", connection.bounds()), ("stored_ms", connection.stored_ms(1)),
                              ("next_message", connection.next_message(1, connection.subject(None))),
                              ("last_message", connection.last_message(connection.subject("WSA")))]:
            with pytest.raises(EventLogError, match="unavailable|failed") as caught:
                await request
            assert type(caught.value) is EventLogError, name
        await connection.close()
    finally:
        cluster.stop()


async def test_a_stream_the_broker_refuses_to_create_is_an_open_error_with_its_reason(nats_single) -> None:
    with pytest.raises(EventLogOpenError, match=r"cannot be created or read: replicas > 1 not supported"):
        await _connected(nats_single.urls, fresh_stream(replicas=3))


async def test_a_broker_without_jetstream_is_an_open_error_that_says_so(tmp_path: Path) -> None:
    node = NatsNode("plain", tmp_path, extra=["jetstream: disabled"])
    node.start()
    try:
        wait_for(node.healthy, 30, "nats-server without JetStream")
        with pytest.raises(EventLogOpenError, match=r"cannot be created or read: is JetStream enabled on it\? \(nats: "):
            await _connected([node.url], fresh_stream())
    finally:
        node.stop()


async def test_tls_files_that_cannot_be_loaded_are_an_open_error(tmp_path: Path) -> None:
    with pytest.raises(EventLogOpenError, match="NATS TLS files cannot be loaded"):
        await _connected(["tls://127.0.0.1:1"], fresh_stream(), tls_ca=str(tmp_path / "missing-ca.pem"))


async def test_a_connect_timeout_under_a_second_still_connects(nats_single) -> None:
    connection = await _connected(nats_single.urls, fresh_stream(), connect_timeout_s=0.5)
    assert await connection.bounds() == (1, 0)
    await connection.close()
