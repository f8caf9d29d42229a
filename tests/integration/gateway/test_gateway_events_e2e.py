"""Events end to end: emulator -> signed callback -> gateway webhook -> durable log -> gRPC subscriber."""

from __future__ import annotations

import asyncio
import contextlib

import grpc
import pytest

from taskrouter.gateway.v1 import (
    activity_service_pb2 as a,
    activity_service_pb2_grpc,
    event_service_pb2 as e,
    event_service_pb2_grpc,
    worker_service_pb2 as w,
    worker_service_pb2_grpc,
)


@pytest.fixture
def ws(emulator) -> str:
    return emulator.config.default_workspace_sid


@pytest.fixture
async def wired(gateway, channel, ws):
    """The emulator's default workspace points its EventCallbackUrl at the gateway's webhook."""
    events = event_service_pb2_grpc.EventServiceStub(channel)
    workspace = await events.ConfigureEventCallback(e.ConfigureEventCallbackRequest(workspace_sid=ws))
    assert workspace.event_callback_url == gateway.webhook_url
    return events


class Subscriber:
    """Reads a stream in the background into a queue of events (StreamedEvent), so tests can wait for exactly
    what they expect however the events were batched."""

    def __init__(self, stub, request: e.StreamEventsRequest) -> None:
        self.call = stub.StreamEvents(request)
        self.queue: asyncio.Queue = asyncio.Queue()
        self.task = asyncio.ensure_future(self._pump())

    async def _pump(self) -> None:
        try:
            async for message in self.call:
                for item in message.events:
                    await self.queue.put(item)
        except grpc.aio.AioRpcError as err:
            await self.queue.put(err)

    async def next(self, timeout: float = 10.0):
        item = await asyncio.wait_for(self.queue.get(), timeout)
        if isinstance(item, Exception):
            raise item
        return item

    async def take(self, n: int, timeout: float = 10.0) -> list:
        return [await self.next(timeout) for _ in range(n)]

    async def close(self) -> None:
        self.call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@pytest.fixture
async def subscribe():
    opened: list[Subscriber] = []

    async def open_(stub, request) -> Subscriber:
        sub = Subscriber(stub, request)
        opened.append(sub)
        return sub

    yield open_
    for sub in opened:
        await sub.close()


async def _ready(sub: Subscriber, gateway) -> None:
    """A start_at_now stream counts as subscribed once the fan-out has registered it."""
    await asyncio.wait_for(gateway.fanout.wait_until(lambda c: c.subscribers >= 1), 10)


async def test_worker_changes_stream_to_a_subscriber(wired, channel, gateway, ws, subscribe):
    workers = worker_service_pb2_grpc.WorkerServiceStub(channel)
    activities = activity_service_pb2_grpc.ActivityServiceStub(channel)
    sub = await subscribe(wired, e.StreamEventsRequest(workspace_sid=ws, event_types=["worker.*"]))
    await _ready(sub, gateway)
    made = await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="Streamer",
                                                            attributes='{"level": 2}'))
    available = (await activities.ListActivities(a.ListActivitiesRequest(workspace_sid=ws, friendly_name="Available"))).activities[0]
    await workers.UpdateWorker(w.UpdateWorkerRequest(workspace_sid=ws, sid=made.sid, activity_sid=available.sid))
    created, moved = await sub.take(2)
    assert created.event.event_type == "worker.created" and moved.event.event_type == "worker.activity.update"
    assert created.event.worker.worker_sid == made.sid == created.event.resource_sid
    assert created.event.worker.worker_name == "Streamer"
    assert moved.event.worker.worker_activity_name == "Available"
    assert moved.event.worker.worker_previous_activity_sid == made.activity_sid
    assert moved.event.worker.HasField("worker_time_in_previous_activity_ms")
    assert created.event.raw_parameters["WorkerSid"] == made.sid
    assert created.cursor and moved.cursor and created.cursor != moved.cursor
    # The REST API knows the same event by the same sid.
    fetched = await wired.GetEvent(e.GetEventRequest(workspace_sid=ws, sid=created.event.sid))
    assert fetched.event_type == "worker.created" and fetched.worker.worker_sid == made.sid
    listed = await wired.ListEvents(e.ListEventsRequest(workspace_sid=ws, worker_sid=made.sid))
    assert {x.sid for x in listed.events} >= {created.event.sid, moved.event.sid}


async def test_resume_after_a_cursor_gets_exactly_the_rest(wired, channel, gateway, ws, subscribe):
    workers = worker_service_pb2_grpc.WorkerServiceStub(channel)
    first = await subscribe(wired, e.StreamEventsRequest(workspace_sid=ws, event_types=["worker.created"]))
    await _ready(first, gateway)
    for i in range(5):
        await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name=f"R{i}"))
    got = await first.take(5)
    await first.close()
    resumed = await subscribe(wired, e.StreamEventsRequest(workspace_sid=ws, event_types=["worker.created"],
                                                          after_cursor=got[1].cursor))
    rest = await resumed.take(3)
    assert [m.event.sid for m in rest] == [m.event.sid for m in got[2:]]
    replay = await subscribe(wired, e.StreamEventsRequest(workspace_sid=ws, since=got[0].event.event_date))
    replayed = [m.event.sid for m in await replay.take(5)]
    assert replayed == [m.event.sid for m in got]


async def test_duplicated_callbacks_are_delivered_once(wired, channel, gateway, ws, subscribe, emulator_http, emulator):
    async with emulator_http.post(f"{emulator.base_url}/admin/faults/callbacks", json={"mode": "duplicate"}) as r:
        assert r.status == 201
    workers = worker_service_pb2_grpc.WorkerServiceStub(channel)
    sub = await subscribe(wired, e.StreamEventsRequest(workspace_sid=ws, event_types=["worker.created"]))
    await _ready(sub, gateway)
    names = [f"D{i}" for i in range(4)]
    for name in names:
        await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name=name))
    got = await sub.take(4)
    assert [m.event.worker.worker_name for m in got] == names
    # Nothing more arrives: each duplicate was stored once (a fifth message would be a duplicate). Callbacks
    # go out in order, so once the marker is here every duplicate before it has been answered.
    marker = await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="Marker"))
    assert (await sub.next()).event.worker.worker_sid == marker.sid
    assert gateway.webhook.duplicates >= 4


async def test_reordered_callbacks_are_visible_in_cursors_and_timestamps(wired, channel, gateway, ws, subscribe,
                                                                        emulator_http, emulator):
    async with emulator_http.post(f"{emulator.base_url}/admin/faults/callbacks",
                                  json={"mode": "reorder", "count": 1, "hold_ms": 5000}) as r:
        assert r.status == 201
    workers = worker_service_pb2_grpc.WorkerServiceStub(channel)
    sub = await subscribe(wired, e.StreamEventsRequest(workspace_sid=ws, event_types=["worker.created"]))
    await _ready(sub, gateway)
    one = await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="First"))
    two = await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="Second"))
    got = await sub.take(2)
    # Arrival order (the log's, hence the cursors') is swapped; TaskRouter's timestamps still tell the truth.
    assert [m.event.worker.worker_sid for m in got] == [two.sid, one.sid]
    assert got[0].event.event_date_ms >= got[1].event.event_date_ms


async def test_dropped_callbacks_are_repaired_by_backfill(wired, channel, gateway, ws, subscribe, emulator_http, emulator):
    workers = worker_service_pb2_grpc.WorkerServiceStub(channel)
    sub = await subscribe(wired, e.StreamEventsRequest(workspace_sid=ws, event_types=["worker.created"]))
    await _ready(sub, gateway)
    await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="Before"))
    await sub.next()
    async with emulator_http.post(f"{emulator.base_url}/admin/faults/callbacks",
                                  json={"mode": "drop", "count": 2, "event_types": ["worker.created"]}) as r:
        assert r.status == 201
    lost = [await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name=f"Lost{i}")) for i in range(2)]
    after = await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="After"))
    assert (await sub.next()).event.worker.worker_sid == after.sid  # the two drops never arrived
    result = await wired.BackfillEvents(e.BackfillEventsRequest(workspace_sid=ws))
    assert result.appended_count >= 2 and result.fetched_count >= result.appended_count
    repaired = {(await sub.next()).event.worker.worker_sid for _ in range(2)}
    assert repaired == {x.sid for x in lost}
    again = await wired.BackfillEvents(e.BackfillEventsRequest(workspace_sid=ws))
    assert again.appended_count == 0 and again.duplicate_count == again.fetched_count


@pytest.mark.parametrize(
    "request_message,field",
    [
        (e.StreamEventsRequest(), "workspace_sid"),
        (e.StreamEventsRequest(workspace_sid="WS" + "a" * 32, event_types=["wor*er"]), "event_types"),
        (e.StreamEventsRequest(workspace_sid="WS" + "a" * 32, worker_sid="WT" + "a" * 32), "worker_sid"),
        (e.StreamEventsRequest(workspace_sid="WS" + "a" * 32, after_cursor="garbage"), "after_cursor"),
    ],
)
async def test_bad_stream_requests_are_invalid_argument(channel, request_message, field):
    from taskrouter_gateway.errors import error_info_from

    stub = event_service_pb2_grpc.EventServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in stub.StreamEvents(request_message):
            pass
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, bad = error_info_from(caught.value)
    assert field in [v.field for v in bad.field_violations]


@pytest.mark.parametrize(
    "request_message,field",
    [
        (e.BackfillEventsRequest(), "workspace_sid"),
        (e.ConfigureEventCallbackRequest(workspace_sid="WS" + "a" * 32, event_types=["worker.*"]), "event_types"),
        (e.ConfigureEventCallbackRequest(workspace_sid="WS" + "a" * 32, callback_url="nope"), "callback_url"),
        (e.GetEventRequest(workspace_sid="WS" + "a" * 32, sid="WK" + "a" * 32), "sid"),
        (e.ListEventsRequest(workspace_sid="WS" + "a" * 32, worker_sid="bad"), "worker_sid"),
    ],
)
async def test_bad_unary_event_requests(channel, emulator_admin, request_message, field):
    from taskrouter_gateway.errors import error_info_from

    stub = event_service_pb2_grpc.EventServiceStub(channel)
    method = {
        "BackfillEventsRequest": stub.BackfillEvents,
        "ConfigureEventCallbackRequest": stub.ConfigureEventCallback,
        "GetEventRequest": stub.GetEvent,
        "ListEventsRequest": stub.ListEvents,
    }[type(request_message).__name__]
    before = await emulator_admin.requests_seen()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await method(request_message)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, bad = error_info_from(caught.value)
    assert field in [v.field for v in bad.field_violations]
    assert await emulator_admin.requests_seen() == before
