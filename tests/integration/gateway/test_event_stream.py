"""EventService.StreamEvents over a real gRPC server on 127.0.0.1:0, backed by a real SqliteEventLog.

Only the StreamEvents handler is registered, through a bare pipeline (which maps its errors); events are
appended straight to the log and the fan-out is notified, as the webhook does after a durable append. The
stored payloads here are serialized Events (the fan-out's render is injected), so tests can shape any Event;
tests/integration/gateway/test_gateway_events_e2e.py covers the real records, from signed callbacks.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import grpc
import pytest
from google.protobuf import timestamp_pb2

from taskrouter.gateway.v1 import event_pb2, event_service_pb2, event_service_pb2_grpc
from taskrouter_gateway.errors import error_info_from
from taskrouter_gateway.eventlog.log import EventLog, EventLogError, NewEvent, Retention
from taskrouter_gateway.eventlog.sqlite.log import SqliteEventLog
from taskrouter_gateway.pipeline import Pipeline
from taskrouter_gateway.services.event_stream import EventStreamer
from taskrouter_gateway.stream.cursor import decode_cursor, encode_cursor
from taskrouter_gateway.stream.fanout import MAX_MESSAGE_BYTES, FanOut, encode_piece

SERVICE = "taskrouter.gateway.v1.EventService"
WS = "WS" + "a" * 32
WS_B = "WS" + "b" * 32
T0 = 1_700_000_000_000  # event_date_ms of the first test event
WAIT = 10.0  # upper bound for any single wait; never reached when the code works

# Reads one message at a time with a tiny window: a client that "does not read" stalls the server quickly.
SLOW_CLIENT_OPTIONS = [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 1024)]


def sid(prefix: str, n: int) -> str:
    return f"{prefix}{n:032x}"


_event_numbers = itertools.count(1)


def make_event(event_type: str = "worker.created", *, ws: str = WS, date_ms: int | None = None, resource: str = "",
               worker: str = "", task: str = "", queue: str = "", workflow: str = "", reservation: str = "",
               description: str = "") -> event_pb2.Event:
    n = next(_event_numbers)
    event = event_pb2.Event(
        sid=sid("EV", n), workspace_sid=ws, event_type=event_type, resource_sid=resource, description=description,
        event_date_ms=T0 + n if date_ms is None else date_ms,
    )
    if worker:
        event.worker.worker_sid = worker
    if task:
        event.task.task_sid = task
    if queue:
        event.task_queue.task_queue_sid = queue
    if workflow:
        event.workflow.workflow_sid = workflow
    if reservation:
        event.reservation.reservation_sid = reservation
    return event


@dataclass
class Stack:
    log: EventLog
    fanout: FanOut
    target: str
    channel: grpc.aio.Channel
    extra_channels: list[grpc.aio.Channel] = field(default_factory=list)

    @property
    def stub(self) -> event_service_pb2_grpc.EventServiceStub:
        return event_service_pb2_grpc.EventServiceStub(self.channel)

    async def slow_stub(self) -> event_service_pb2_grpc.EventServiceStub:
        channel = grpc.aio.insecure_channel(self.target, options=SLOW_CLIENT_OPTIONS)
        self.extra_channels.append(channel)
        return event_service_pb2_grpc.EventServiceStub(channel)

    async def append(self, *events: event_pb2.Event) -> list[int]:
        results = await self.log.append([new_event(e) for e in events])
        self.fanout.notify()
        return [r.seq for r in results]

    def cursor(self, seq: int) -> str:
        return encode_cursor(self.log.log_id, seq)

    async def wait(self, predicate) -> None:
        await asyncio.wait_for(self.fanout.wait_until(predicate), WAIT)


def new_event(e: event_pb2.Event) -> NewEvent:
    """A test event as the log stores it: its payload is the serialized Event (see render_proto)."""
    return NewEvent(sid=e.sid, workspace_sid=e.workspace_sid, event_type=e.event_type, resource_sid=e.resource_sid,
                    event_date_ms=e.event_date_ms, payload=e.SerializeToString())


def render_proto(stored) -> event_pb2.Event:
    return event_pb2.Event.FromString(stored.payload)


class PollingLog(SqliteEventLog):
    """A real SQLite log that does not hand commits over: the fan-out must read new events back."""

    def add_commit_listener(self, listener) -> bool:
        return False


class HookedLog(SqliteEventLog):
    """A real SQLite log that runs a test hook before each replay read (reads for one workspace) and counts
    the tailer's read-backs (reads across workspaces)."""

    replay_hook: Callable[[int], Awaitable[None]] | None = None
    tail_reads = 0

    async def read_after(self, seq, *, limit, workspace_sid=None):
        if workspace_sid is None:
            self.tail_reads += 1
        elif self.replay_hook is not None:
            await self.replay_hook(seq)
        return await super().read_after(seq, limit=limit, workspace_sid=workspace_sid)


class HookedPollingLog(PollingLog, HookedLog):
    pass


@pytest.fixture
async def make_stack(tmp_path) -> AsyncIterator[Callable[..., Awaitable[Stack]]]:
    cleanups: list[Callable[[], Awaitable[None]]] = []

    async def make(*, buffer_size: int = 1024, page_size: int = 500, retention: Retention | None = None,
                   log_class: type[SqliteEventLog] = SqliteEventLog, render=render_proto,
                   log: EventLog | None = None) -> Stack:
        if log is None:
            log = log_class(tmp_path / f"events{len(cleanups)}.db", synchronous="NORMAL",
                            retention=retention or Retention())
        await log.open()
        cleanups.append(log.close)
        fanout = FanOut(log, render=render, buffer_size=buffer_size, page_size=page_size)
        await fanout.start()
        cleanups.append(lambda: fanout.close(drain_timeout=1.0))
        server = grpc.aio.server()
        # The error mapping is the pipeline's: a bare one (no auth, metrics, logs) around the stream alone.
        handler = Pipeline().method_handler(f"/{SERVICE}/StreamEvents", grpc.unary_stream_rpc_method_handler(
            EventStreamer(log, fanout).StreamEvents,
            request_deserializer=event_service_pb2.StreamEventsRequest.FromString,  # responses: the fan-out's bytes
        ))
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, {"StreamEvents": handler})])
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        cleanups.append(lambda: server.stop(0))
        target = f"127.0.0.1:{port}"
        channel = grpc.aio.insecure_channel(target)
        stack = Stack(log, fanout, target, channel)

        async def close_channels() -> None:
            for ch in [channel, *stack.extra_channels]:
                await ch.close()

        cleanups.append(close_channels)
        return stack

    yield make
    for cleanup in reversed(cleanups):
        await cleanup()


@pytest.fixture
async def stack(make_stack) -> Stack:
    return await make_stack()


def request(**fields) -> event_service_pb2.StreamEventsRequest:
    fields.setdefault("workspace_sid", WS)
    return event_service_pb2.StreamEventsRequest(**fields)


_unread: dict[int, list[event_service_pb2.StreamedEvent]] = {}  # per call: events read but not yet taken


async def take(call, n: int) -> list[event_service_pb2.StreamedEvent]:
    """The next n events of the stream, however they were batched into messages."""
    pending = _unread.setdefault(id(call), [])
    while len(pending) < n:
        message = await asyncio.wait_for(call.read(), WAIT)
        assert message is not grpc.aio.EOF, f"stream ended after {len(pending)} of {n} events"
        assert message.events, "a message without events"
        pending.extend(message.events)
    out, pending[:] = pending[:n], pending[n:]
    return out


def flatten(messages) -> list[event_service_pb2.StreamedEvent]:
    return [e for m in messages for e in m.events]


async def rpc_error(call) -> grpc.aio.AioRpcError:
    """Reads until the stream fails; returns the error (messages before it are discarded)."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        while True:
            message = await asyncio.wait_for(call.read(), WAIT)
            assert message is not grpc.aio.EOF, "stream ended OK instead of failing"
    return caught.value


def sids(messages) -> list[str]:
    return [m.event.sid for m in messages]


async def open_live(stack: Stack, stub=None, **fields):
    """Opens a stream starting now and waits until the fan-out counts it live."""
    live_before = stack.fanout.counters.live
    call = (stub or stack.stub).StreamEvents(request(**fields))
    await stack.wait(lambda c: c.live > live_before)
    return call


# -- wire format ------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 127, 128, 300, 16_384, 2_000_000])
def test_a_piece_is_a_one_event_message_and_pieces_join_into_one_message(size):
    event = make_event(description="x" * size)
    other = make_event(description="y")
    piece = encode_piece(event.SerializeToString(), "v1.abc")
    expected = event_service_pb2.StreamEventsResponse(
        events=[event_service_pb2.StreamedEvent(event=event, cursor="v1.abc")]
    )
    assert piece == expected.SerializeToString()
    joined = piece + encode_piece(other.SerializeToString(), "v1.abd")
    decoded = event_service_pb2.StreamEventsResponse.FromString(joined)
    assert [(e.event, e.cursor) for e in decoded.events] == [(event, "v1.abc"), (other, "v1.abd")]


# -- start positions and cursors ---------------------------------------------------------------------


async def test_start_at_now_streams_only_new_events(stack):
    await stack.append(make_event(), make_event())
    call = await open_live(stack)  # start_position unset = now
    explicit = await open_live(stack, start_at_now=True)
    new = [make_event(), make_event("task.created")]
    seqs = await stack.append(*new)
    for c in (call, explicit):
        got = await take(c, 2)
        assert sids(got) == [e.sid for e in new]
        assert [decode_cursor(m.cursor, stack.log.log_id) for m in got] == seqs == [3, 4]
        assert got[1].event == new[1]  # the whole event arrives intact


async def test_initial_metadata_arrives_once_subscribed_before_any_event(stack):
    """Readiness: the headers come with no event to carry them, and an event appended right after is delivered."""
    call = stack.stub.StreamEvents(request(start_at_now=True))
    await asyncio.wait_for(call.initial_metadata(), 10)
    assert stack.fanout.counters.delivered == 0  # sent by the servicer, not by the runtime on a first message
    event = make_event()
    await stack.append(event)  # at once: no wait for the fan-out to count the stream live
    assert sids(await take(call, 1)) == [event.sid]


async def test_since_replays_from_that_time_then_continues_live(stack):
    old, mid, late = (make_event(date_ms=T0 - 5000), make_event(date_ms=T0), make_event(date_ms=T0 + 5000))
    await stack.append(old, mid, late)
    # since = T0 - 1 µs: rounds up to T0 ms, so `mid` (dated exactly T0) is included and `old` is not.
    since = timestamp_pb2.Timestamp(seconds=T0 // 1000 - 1, nanos=999_999_000)
    call = stack.stub.StreamEvents(request(since=since))
    assert sids(await take(call, 2)) == [mid.sid, late.sid]
    await stack.wait(lambda c: c.live == 1)
    fresh = make_event(date_ms=T0 - 10_000)  # live events flow whatever their date
    await stack.append(fresh)
    assert sids(await take(call, 1)) == [fresh.sid]


async def test_since_in_the_future_means_now(stack):
    await stack.append(make_event(date_ms=T0))
    future = timestamp_pb2.Timestamp(seconds=T0 // 1000 + 86_400)
    call = stack.stub.StreamEvents(request(since=future))
    await stack.wait(lambda c: c.live == 1)
    fresh = make_event(date_ms=T0)
    await stack.append(fresh)
    assert sids(await take(call, 1)) == [fresh.sid]


async def test_every_cursor_resumes_exactly_after_its_event(stack):
    events = [make_event() for _ in range(5)]
    await stack.append(*events)
    call = stack.stub.StreamEvents(request(after_cursor=stack.cursor(0)))
    first = await take(call, 5)
    call.cancel()
    assert sids(first) == [e.sid for e in events]
    for i, message in enumerate(first[:-1]):
        call = stack.stub.StreamEvents(request(after_cursor=message.cursor))
        resumed = await take(call, 4 - i)
        call.cancel()
        assert sids(resumed) == [e.sid for e in events[i + 1:]]
        assert [m.cursor for m in resumed] == [m.cursor for m in first[i + 1:]]
    await stack.wait(lambda c: c.subscribers == 0)
    # The newest cursor: nothing to replay, the next event is the first message.
    call = stack.stub.StreamEvents(request(after_cursor=first[-1].cursor))
    await stack.wait(lambda c: c.live == 1)
    nxt = make_event()
    await stack.append(nxt)
    assert sids(await take(call, 1)) == [nxt.sid]


# -- filters ------------------------------------------------------------------------------------------

W1, W2 = sid("WK", 1), sid("WK", 2)
T1, T2 = sid("WT", 1), sid("WT", 2)
Q1, Q2 = sid("WQ", 1), sid("WQ", 2)
F1, F2 = sid("WW", 1), sid("WW", 2)
R1 = sid("WR", 1)


def dataset() -> dict[str, event_pb2.Event]:
    res = dict(task=T1, worker=W1, queue=Q1, workflow=F1, reservation=R1, resource=R1)
    return {
        "w1_created": make_event("worker.created", worker=W1, resource=W1),
        "w1_activity": make_event("worker.activity.update", worker=W1, resource=W1),
        "w2_created": make_event("worker.created", worker=W2, resource=W2),
        "t1_created": make_event("task.created", task=T1, queue=Q1, workflow=F1, resource=T1),
        "r1_created": make_event("reservation.created", **res),
        "r1_accepted": make_event("reservation.accepted", **res),
        "q2_created": make_event("task-queue.created", queue=Q2, resource=Q2),
        "t2_created": make_event("task.created", task=T2, queue=Q2, workflow=F2, resource=T2),
        "w2_channel": make_event("worker.channel.availability.update", worker=W2, resource=W2),
        "b_w1_created": make_event("worker.created", ws=WS_B, worker=W1, resource=W1),
    }


FILTER_CASES = {
    "exact type": (dict(event_types=["worker.created"]), ["w1_created", "w2_created"]),
    "wildcard": (dict(event_types=["worker.*"]), ["w1_created", "w1_activity", "w2_created", "w2_channel"]),
    "multi-level wildcard": (dict(event_types=["worker.channel.*"]), ["w2_channel"]),
    "task.* is not task-queue": (dict(event_types=["task.*"]), ["t1_created", "t2_created"]),
    "types ored": (dict(event_types=["reservation.*", "task-queue.*"]), ["r1_created", "r1_accepted", "q2_created"]),
    "star": (dict(event_types=["*"]), ["w1_created", "w1_activity", "w2_created", "t1_created", "r1_created",
                                       "r1_accepted", "q2_created", "t2_created", "w2_channel"]),
    "resource": (dict(resource_sid=W1), ["w1_created", "w1_activity"]),
    "worker": (dict(worker_sid=W1), ["w1_created", "w1_activity", "r1_created", "r1_accepted"]),
    "task": (dict(task_sid=T1), ["t1_created", "r1_created", "r1_accepted"]),
    "queue": (dict(task_queue_sid=Q2), ["q2_created", "t2_created"]),
    "workflow": (dict(workflow_sid=F1), ["t1_created", "r1_created", "r1_accepted"]),
    "reservation": (dict(reservation_sid=R1), ["r1_created", "r1_accepted"]),
    "other workspace": (dict(workspace_sid=WS_B), ["b_w1_created"]),
    "anded": (dict(worker_sid=W1, event_types=["reservation.*"]), ["r1_created", "r1_accepted"]),
}


@pytest.mark.parametrize("phase", ["replay", "live"])
@pytest.mark.parametrize("case", list(FILTER_CASES))
async def test_filters(stack, case, phase):
    fields, expected = FILTER_CASES[case]
    events = dataset()
    if phase == "replay":
        await stack.append(*events.values())
        call = stack.stub.StreamEvents(request(after_cursor=stack.cursor(0), **fields))
    else:
        call = await open_live(stack, **fields)
        await stack.append(*events.values())
    assert sids(await take(call, len(expected))) == [events[name].sid for name in expected]
    # Nothing else matched: the next message is a fresh copy of the last expected event, appended now.
    marker = event_pb2.Event()
    marker.CopyFrom(events[expected[-1]])
    marker.sid = sid("EV", 10**9 + next(_event_numbers))
    await stack.append(marker)
    assert sids(await take(call, 1)) == [marker.sid]


# -- catch-up to live hand-off --------------------------------------------------------------------------


@pytest.mark.parametrize("log_class", [HookedLog, HookedPollingLog])
@pytest.mark.parametrize("buffer_size", [1024, 3])
async def test_handoff_under_concurrent_appends_has_no_gap_or_duplicate(make_stack, buffer_size, log_class):
    # A small page makes the replay take many reads; between them the hook appends more events and lets
    # the tailer publish them, so the live buffer fills (and with buffer_size=3 overflows) mid-replay.
    # Both ways events reach the fan-out are covered: handed over at commit, and read back after notify().
    stack = await make_stack(buffer_size=buffer_size, page_size=7, log_class=log_class)
    await stack.append(*(make_event() for _ in range(50)))
    appended_during_replay = []

    async def append_more(after_seq: int) -> None:
        if len(appended_during_replay) < 12:
            seqs = await stack.append(*(make_event() for _ in range(5)))
            appended_during_replay.append(stack.fanout.counters.live)
            await stack.wait(lambda c, last=seqs[-1]: c.published >= last)

    stack.log.replay_hook = append_more
    call = stack.stub.StreamEvents(request(after_cursor=stack.cursor(0)))
    got = await take(call, 110)
    # And events appended after the hand-off keep coming, in order.
    await stack.wait(lambda c: c.live == 1)
    for _ in range(5):
        await stack.append(make_event())
        got += await take(call, 1)

    assert appended_during_replay == [0] * 12  # every batch landed while the subscriber was replaying
    seqs = [decode_cursor(m.cursor, stack.log.log_id) for m in got]
    assert seqs == list(range(1, 116))
    assert stack.fanout.counters.overflowed == 0  # a full buffer while replaying is not fatal
    assert (stack.fanout.counters.rereads > 0) == (buffer_size == 3)
    # Handed-over commits are never read back; without the hand-over the tailer reads every one.
    assert (stack.log.tail_reads == 0) == (log_class is HookedLog)


async def test_events_replayed_before_the_tailer_publishes_them_are_not_repeated(make_stack):
    # The webhook's notify() comes late: the replay reads events from the log that the tailer will only
    # publish after this subscriber has gone live.
    stack = await make_stack(log_class=PollingLog)
    early = [make_event() for _ in range(3)]
    await stack.log.append([new_event(e) for e in early])
    call = stack.stub.StreamEvents(request(after_cursor=stack.cursor(0)))
    assert sids(await take(call, 3)) == [e.sid for e in early]
    await stack.wait(lambda c: c.live == 1)
    stack.fanout.notify()
    await stack.wait(lambda c: c.published == 3)
    later = make_event()
    await stack.append(later)
    assert sids(await take(call, 1)) == [later.sid]


async def test_frames_already_replayed_do_not_count_against_the_live_buffer(make_stack):
    # While the replay runs, the tailer fills the 4-slot buffer with exactly the events the replay then
    # reads. Once live, those stale frames must not make the next event overflow the buffer.
    stack = await make_stack(buffer_size=4, page_size=4, log_class=HookedLog)
    events = [make_event() for _ in range(4)]

    async def publish_during_first_read(after_seq: int) -> None:
        if after_seq == 0:
            await stack.append(*events)
            await stack.wait(lambda c: c.published == 4)

    stack.log.replay_hook = publish_during_first_read
    call = stack.stub.StreamEvents(request(after_cursor=stack.cursor(0)))
    assert sids(await take(call, 4)) == [e.sid for e in events]
    await stack.wait(lambda c: c.live == 1)
    later = [make_event(), make_event()]
    await stack.append(*later)
    assert sids(await take(call, 2)) == [e.sid for e in later]
    assert stack.fanout.counters.overflowed == 0


async def test_a_failed_replay_read_ends_the_stream_unavailable_with_a_resume_cursor(make_stack):
    stack = await make_stack(page_size=2, log_class=HookedLog)
    await stack.append(*(make_event() for _ in range(5)))

    async def fail_after_first_page(after_seq: int) -> None:
        if after_seq >= 2:
            raise EventLogError("disk on fire")

    stack.log.replay_hook = fail_after_first_page
    call = stack.stub.StreamEvents(request(after_cursor=stack.cursor(0)))
    got = await take(call, 2)
    error = await rpc_error(call)
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    info, _ = error_info_from(error)
    assert info.reason == "EVENT_LOG_UNAVAILABLE" and info.metadata["resume_cursor"] == got[-1].cursor
    await stack.wait(lambda c: c.subscribers == 0)


# -- batching and rendering ------------------------------------------------------------------------------


async def messages_holding(call, count: int) -> list:
    """Reads stream messages until they hold `count` events between them."""
    messages = []
    while sum(len(m.events) for m in messages) < count:
        message = await asyncio.wait_for(call.read(), WAIT)
        assert message is not grpc.aio.EOF
        messages.append(message)
    return messages


async def test_a_subscriber_that_is_behind_gets_its_events_batched_under_the_size_cap(make_stack):
    stack = await make_stack()
    events = [make_event(description="d" * 5_000) for _ in range(30)]  # six fit under the cap, seven do not
    await stack.append(*events)
    call = stack.stub.StreamEvents(request(after_cursor=stack.cursor(0)))
    messages = await messages_holding(call, 30)
    got = flatten(messages)
    assert sids(got) == [e.sid for e in events]
    assert [decode_cursor(e.cursor, stack.log.log_id) for e in got] == list(range(1, 31))
    # Several events per message, yet none over the cap: a replay of 30 big events is a handful of messages.
    assert 1 < len(messages) < 30
    assert all(len(m.events) > 1 and m.ByteSize() <= MAX_MESSAGE_BYTES for m in messages)
    assert stack.fanout.counters.messages == len(messages) and stack.fanout.counters.delivered == 30
    call.cancel()


async def test_an_event_bigger_than_the_cap_still_goes_alone(make_stack):
    stack = await make_stack()
    big, small = make_event(description="b" * (MAX_MESSAGE_BYTES + 10)), make_event()
    await stack.append(big, small)
    call = stack.stub.StreamEvents(request(after_cursor=stack.cursor(0)))
    first = await asyncio.wait_for(call.read(), WAIT)
    second = await asyncio.wait_for(call.read(), WAIT)
    assert [len(first.events), len(second.events)] == [1, 1]
    assert (first.events[0].event, second.events[0].event) == (big, small)
    call.cancel()


async def test_events_are_rendered_once_and_only_when_someone_listens(make_stack):
    stack = await make_stack()
    await stack.append(*(make_event() for _ in range(5)))
    await stack.wait(lambda c: c.published == 5)
    assert stack.fanout.counters.frames_built == 0  # nobody subscribed: nothing rendered
    calls = [await open_live(stack) for _ in range(3)]
    fresh = [make_event(), make_event()]
    await stack.append(*fresh)
    for call in calls:
        assert sids(await take(call, 2)) == [e.sid for e in fresh]
    assert stack.fanout.counters.frames_built == 2  # once per event, shared by the three streams
    for call in calls:
        call.cancel()


async def test_an_event_that_cannot_be_rendered_is_skipped_and_counted(make_stack):
    def render(stored):
        if stored.payload == b"not an event":
            raise ValueError("garbled")
        return render_proto(stored)

    stack = await make_stack(render=render)
    call = await open_live(stack)
    before, after = make_event(), make_event()
    await stack.append(before)
    await stack.log.append([NewEvent(sid=sid("EV", 999_999), workspace_sid=WS, event_type="worker.created",
                                     resource_sid="", event_date_ms=T0, payload=b"not an event")])
    await stack.append(after)
    assert sids(await take(call, 2)) == [before.sid, after.sid]
    assert stack.fanout.counters.unreadable == 1
    # A replay skips it the same way (the frame is not cached: it is rendered, and refused, again).
    replay = stack.stub.StreamEvents(request(after_cursor=stack.cursor(0)))
    assert sids(await take(replay, 2)) == [before.sid, after.sid]
    for c in (call, replay):
        c.cancel()


# -- bad requests ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields,field",
    [
        (dict(workspace_sid=""), "workspace_sid"),
        (dict(event_types=["wor*er"]), "event_types"),
        (dict(event_types=["*.created"]), "event_types"),
        (dict(worker_sid="WT" + "1" * 32), "worker_sid"),
        (dict(task_sid="nope"), "task_sid"),
        (dict(task_queue_sid="WQ1"), "task_queue_sid"),
        (dict(workflow_sid="WK" + "1" * 32), "workflow_sid"),
        (dict(reservation_sid="WR" + "g" * 32), "reservation_sid"),
        (dict(resource_sid="x"), "resource_sid"),
        (dict(after_cursor="garbage"), "after_cursor"),
        (dict(after_cursor=encode_cursor("anotherlog", 1)), "after_cursor"),
        (dict(start_at_now=False), "start_at_now"),
        (dict(since=timestamp_pb2.Timestamp(seconds=1, nanos=-1)), "since"),
        (dict(since=timestamp_pb2.Timestamp(seconds=300_000_000_000)), "since"),
    ],
)
async def test_bad_requests_fail_invalid_argument_naming_the_field(stack, fields, field):
    error = await rpc_error(stack.stub.StreamEvents(request(**fields)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    info, bad_request = error_info_from(error)
    assert info.reason == "INVALID_ARGUMENT"
    assert [v.field for v in bad_request.field_violations] == [field]
    assert stack.fanout.counters.subscribers == 0


async def test_all_bad_fields_are_reported_together(stack):
    error = await rpc_error(stack.stub.StreamEvents(
        request(workspace_sid="WSx", event_types=["**"], after_cursor="v2.abc")))
    _, bad_request = error_info_from(error)
    assert [v.field for v in bad_request.field_violations] == ["workspace_sid", "event_types", "after_cursor"]
    assert "version 'v2' is not supported" in bad_request.field_violations[2].description


async def test_cursor_from_another_log_or_past_the_end_is_refused(stack):
    await stack.append(make_event())
    for cursor, text in [(encode_cursor("feedbeef", 1), "different event log"),
                         (stack.cursor(2), "past the end")]:
        error = await rpc_error(stack.stub.StreamEvents(request(after_cursor=cursor)))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        _, bad_request = error_info_from(error)
        assert bad_request.field_violations[0].field == "after_cursor"
        assert text in bad_request.field_violations[0].description


async def test_cursor_whose_successors_were_pruned_is_out_of_range(make_stack):
    stack = await make_stack(retention=Retention(max_age_ms=None, max_rows=5))
    events = [make_event() for _ in range(10)]
    await stack.append(*events)
    assert await stack.log.prune() == 5  # seqs 6..10 remain
    error = await rpc_error(stack.stub.StreamEvents(request(after_cursor=stack.cursor(4))))
    assert error.code() == grpc.StatusCode.OUT_OF_RANGE
    info, _ = error_info_from(error)
    assert info.reason == "STREAM_CURSOR_EXPIRED" and info.metadata["oldest_cursor"] == stack.cursor(5)
    # The cursor right before the oldest retained event loses nothing.
    call = stack.stub.StreamEvents(request(after_cursor=stack.cursor(5)))
    assert sids(await take(call, 5)) == [e.sid for e in events[5:]]


async def test_a_cursor_jetstream_retention_dropped_is_out_of_range(make_stack, nats_single):
    from taskrouter_gateway.eventlog.jetstream.log import JetStreamEventLog, NatsOptions, StreamOptions

    name = f"EXPIRE{next(_event_numbers)}"
    log = JetStreamEventLog(NatsOptions(servers=tuple(nats_single.urls)),
                            StreamOptions(name=name, prefix=name.lower(), max_bytes=16 * 1024))
    stack = await make_stack(log=log)
    events = [make_event(description="x" * 300) for _ in range(120)]
    await stack.append(*events)
    first = await stack.log.first_seq()
    assert first > 2  # the broker discarded the oldest
    error = await rpc_error(stack.stub.StreamEvents(request(after_cursor=stack.cursor(first - 2))))
    assert error.code() == grpc.StatusCode.OUT_OF_RANGE
    info, _ = error_info_from(error)
    assert info.reason == "STREAM_CURSOR_EXPIRED" and info.metadata["oldest_cursor"] == stack.cursor(first - 1)
    call = stack.stub.StreamEvents(request(after_cursor=stack.cursor(first - 1)))
    assert sids(await take(call, 121 - first)) == [e.sid for e in events[first - 1:]]


# -- slow subscribers ---------------------------------------------------------------------------------


async def test_overflow_closes_only_the_slow_subscriber_and_its_cursor_resumes(make_stack):
    stack = await make_stack(buffer_size=8)
    slow = await open_live(stack, await stack.slow_stub())
    fast = await open_live(stack)
    events = [make_event(description="d" * 2000) for _ in range(60)]
    # Batches smaller than the buffer: the fast reader keeps up, the slow one (not reading) falls behind.
    for start in range(0, 60, 5):
        await stack.append(*events[start:start + 5])
        assert sids(await take(fast, 5)) == [e.sid for e in events[start:start + 5]]
    await stack.wait(lambda c: c.overflowed == 1)
    received = []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        while True:
            message = await asyncio.wait_for(slow.read(), WAIT)
            assert message is not grpc.aio.EOF
            received.append(message)
    error = caught.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "resume from your last cursor" in error.details()
    info, _ = error_info_from(error)
    assert info.reason == "STREAM_SUBSCRIBER_TOO_SLOW"
    received = flatten(received)
    assert 0 < len(received) < 60 and sids(received) == [e.sid for e in events[: len(received)]]
    assert info.metadata["resume_cursor"] == received[-1].cursor

    resumed = stack.stub.StreamEvents(request(after_cursor=received[-1].cursor))
    assert sids(await take(resumed, 60 - len(received))) == [e.sid for e in events[len(received):]]
    assert stack.fanout.counters.overflowed == 1


async def test_a_slow_subscriber_does_not_delay_a_fast_one(stack):
    slow = await open_live(stack, await stack.slow_stub())
    fast = await open_live(stack)
    events = [make_event(description="d" * 2000) for _ in range(200)]
    for start in range(0, 200, 20):
        await stack.append(*events[start:start + 20])
    # The slow client has not read a single message, yet the fast one gets everything.
    assert sids(await take(fast, 200)) == [e.sid for e in events]
    # Within its buffer, the slow one lost nothing either.
    assert sids(await take(slow, 200)) == [e.sid for e in events]
    assert stack.fanout.counters.overflowed == 0


# -- ending streams -------------------------------------------------------------------------------------


async def test_client_cancel_unsubscribes_at_once(stack):
    waiting = await open_live(stack)
    stalled = await open_live(stack, await stack.slow_stub())
    await stack.append(*(make_event(description="d" * 2000) for _ in range(100)))
    await stack.wait(lambda c: c.published == 100 and c.subscribers == 2)
    # `stalled` never reads: its server side sits in a write; `waiting` is drained and awaits more events.
    await take(waiting, 100)
    waiting.cancel()
    stalled.cancel()
    await stack.wait(lambda c: c.subscribers == 0 and c.live == 0)
    # The fan-out keeps working for new subscribers.
    again = await open_live(stack)
    fresh = make_event()
    await stack.append(fresh)
    assert sids(await take(again, 1)) == [fresh.sid]


async def test_close_ends_every_stream_unavailable_with_a_resume_cursor(stack):
    await stack.append(make_event())
    live = await open_live(stack)
    last = make_event()
    await stack.append(last)
    got = await take(live, 1)
    replay = stack.stub.StreamEvents(request(workspace_sid=WS_B, after_cursor=stack.cursor(0)))
    await stack.wait(lambda c: c.subscribers == 2)

    await asyncio.wait_for(stack.fanout.close(), WAIT)
    assert stack.fanout.counters.subscribers == 0
    # Each resume cursor is the last event that stream delivered, or its start if it delivered none.
    for call, resume in ((live, got[0].cursor), (replay, stack.cursor(0))):
        error = await rpc_error(call)
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert error.details() == "server shutting down; resume from your cursor"
        info, _ = error_info_from(error)
        assert info.reason == "STREAM_SHUTTING_DOWN"
        assert info.metadata["resume_cursor"] == resume
    # New streams are refused the same way.
    error = await rpc_error(stack.stub.StreamEvents(request()))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
