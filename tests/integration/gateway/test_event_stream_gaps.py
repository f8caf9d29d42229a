"""Fan-out edges mutation testing found untested: the lag reported per subscription once it is live,
and the smallest buffer and page sizes. Same real stack as test_event_stream.py (its fixtures and helpers)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

import pytest
from structlog.testing import capture_logs

from taskrouter.gateway.v1 import event_service_pb2
from taskrouter_gateway.stream.fanout import MAX_MESSAGE_BYTES, FanOut, PositionLost, SubscriberTooSlow, encode_piece
from taskrouter_gateway.stream.filters import EventFilter
from taskrouter_gateway.eventlog.log import EventLogError
from taskrouter_gateway.eventlog.sqlite.log import SqliteEventLog
from test_event_stream import WS, WAIT, flatten, make_event, messages_holding, make_stack, new_event, open_live, render_proto, request, sids, stack, take  # noqa: F401 - fixtures


async def test_a_live_subscriber_that_has_read_everything_lags_by_nothing(stack):
    call = await open_live(stack)
    assert stack.fanout.lags() == [0]
    events = [make_event() for _ in range(5)]
    await stack.append(*events)
    assert sids(await take(call, 5)) == [e.sid for e in events]
    # Live: the lag is what waits in its buffer (nothing), not how far it is from where its replay began.
    assert stack.fanout.lags() == [0]
    call.cancel()


async def test_no_subscription_means_no_lags(stack):
    assert stack.fanout.lags() == []


@pytest.mark.parametrize(("buffer_size", "page_size", "ok"), [(1, 1, True), (0, 1, False), (1, 0, False)])
async def test_buffer_and_page_sizes_of_one_are_the_smallest_allowed(tmp_path, buffer_size, page_size, ok):
    log = SqliteEventLog(tmp_path / "events.db", synchronous="NORMAL")
    if ok:
        fanout = FanOut(log, buffer_size=buffer_size, page_size=page_size)
        assert (fanout.buffer_size, fanout.page_size) == (1, 1)
    else:
        with pytest.raises(ValueError, match="buffer_size and page_size must be >= 1"):
            FanOut(log, buffer_size=buffer_size, page_size=page_size)


async def test_a_one_event_buffer_still_delivers_every_event_to_a_reader_that_keeps_up(make_stack):
    stack = await make_stack(buffer_size=1, page_size=1)
    call = await open_live(stack)
    for _ in range(3):
        event = make_event()
        await stack.append(event)
        assert sids(await take(call, 1)) == [event.sid]
    call.cancel()


async def test_close_leaves_no_tailer_task_running(tmp_path):
    log = SqliteEventLog(tmp_path / "events.db", synchronous="NORMAL")
    await log.open()
    try:
        fanout = FanOut(log)
        await fanout.start()

        def tailers() -> list[asyncio.Task]:
            return [t for t in asyncio.all_tasks() if t.get_name() == "event-fanout-tailer" and not t.done()]

        assert len(tailers()) == 1
        await fanout.close(drain_timeout=1.0)
        assert tailers() == []
    finally:
        await log.close()


@pytest.mark.parametrize("length", [126, 127, 128, 16_383, 16_384])
def test_pieces_use_the_shortest_length_prefixes_at_each_varint_boundary(length):
    # Byte for byte what protobuf writes (its varints are minimal: 127 is one byte, 128 two), for an event and
    # a cursor of exactly `length` bytes.
    event = next(e for e in (make_event(description="x" * d) for d in range(length + 1))
                 if len(e.SerializeToString()) == length)
    cursor = "v1." + "c" * (length - 3)
    expected = event_service_pb2.StreamEventsResponse(events=[event_service_pb2.StreamedEvent(event=event, cursor=cursor)])
    assert encode_piece(event.SerializeToString(), cursor) == expected.SerializeToString()


def _events_with_pieces(stack, lengths: list[int]) -> list:
    """Events whose pieces (at seqs 1, 2, ... of a fresh log) are exactly these lengths."""
    events = []
    for seq, length in enumerate(lengths, 1):
        for size in range(length - 200, length):
            event = make_event(description="x" * size)
            if len(encode_piece(event.SerializeToString(), stack.cursor(seq))) == length:
                events.append(event)
                break
    assert len(events) == len(lengths)
    return events


def _half_cap_events(stack) -> list:
    """Four events whose pieces are exactly half the cap each: two fill a message to exactly the cap."""
    return _events_with_pieces(stack, [MAX_MESSAGE_BYTES // 2] * 4)


def _one_byte_over_events(stack) -> list:
    """Pieces of half the cap and one byte more, alternately: no two of them fit in one message."""
    half = MAX_MESSAGE_BYTES // 2
    return _events_with_pieces(stack, [half, half + 1, half, half + 1])


async def test_replayed_events_fill_each_message_to_exactly_the_cap(make_stack):
    # Pieces of exactly half the cap: two make a message of exactly MAX_MESSAGE_BYTES, which is allowed.
    stack = await make_stack()
    events = _half_cap_events(stack)
    messages = await _replayed_messages(stack, events)
    assert [len(m.events) for m in messages] == [2, 2]
    assert [m.ByteSize() for m in messages] == [MAX_MESSAGE_BYTES, MAX_MESSAGE_BYTES]
    assert sids([e for m in messages for e in m.events]) == [e.sid for e in events]


async def _replayed_messages(stack, events) -> list:
    """The messages a subscriber from the start of the log gets once `events` are stored."""
    await stack.append(*events)
    call = stack.stub.StreamEvents(request(after_cursor=stack.cursor(0)))
    try:
        return await messages_holding(call, len(events))
    finally:
        call.cancel()


async def _live_messages(stack, events, count_messages_until: int) -> list:
    """A live subscription (the fan-out's own generator, so nothing reads ahead of the test) that is not read
    while `events` are committed in one append: they pile up in its buffer, then it is read."""
    subscription = stack.fanout.subscribe(EventFilter(WS), await stack.log.last_seq())
    first = asyncio.ensure_future(subscription.__anext__())
    await asyncio.wait_for(stack.fanout.wait_until(lambda counters: counters.live == 1), WAIT)
    await stack.append(*events)
    messages = [event_service_pb2.StreamEventsResponse.FromString(await asyncio.wait_for(first, WAIT))]
    while sum(len(m.events) for m in messages) < count_messages_until:
        data = await asyncio.wait_for(subscription.__anext__(), WAIT)
        messages.append(event_service_pb2.StreamEventsResponse.FromString(data))
    await subscription.aclose()
    return messages


async def test_events_that_pile_up_for_a_live_subscriber_go_out_together(stack):
    events = [make_event() for _ in range(5)]
    messages = await _live_messages(stack, events, 5)
    assert [len(m.events) for m in messages] == [5]  # one message, not one per event
    assert sids(flatten(messages)) == [e.sid for e in events]


async def test_a_live_backlog_fills_each_message_to_exactly_the_cap(make_stack):
    stack = await make_stack()
    events = _half_cap_events(stack)
    messages = await _live_messages(stack, events, 4)
    assert [len(m.events) for m in messages] == [2, 2]
    assert [m.ByteSize() for m in messages] == [MAX_MESSAGE_BYTES, MAX_MESSAGE_BYTES]


async def test_pieces_one_byte_over_the_cap_together_go_out_one_per_message(make_stack):
    stack = await make_stack()
    replayed = await _replayed_messages(stack, _one_byte_over_events(stack))
    assert [len(m.events) for m in replayed] == [1, 1, 1, 1]
    live_stack = await make_stack()
    live = await _live_messages(live_stack, _one_byte_over_events(live_stack), 4)
    assert [len(m.events) for m in live] == [1, 1, 1, 1]
    assert all(m.ByteSize() <= MAX_MESSAGE_BYTES for m in replayed + live)


async def test_a_live_backlog_bigger_than_the_cap_is_cut_into_messages_under_it(stack):
    events = [make_event(description="d" * 5_000) for _ in range(30)]  # six fit under the cap, seven do not
    messages = await _live_messages(stack, events, 30)
    assert sids(flatten(messages)) == [e.sid for e in events]
    assert 1 < len(messages) < 30
    assert all(len(m.events) > 1 and m.ByteSize() <= MAX_MESSAGE_BYTES for m in messages)


async def test_a_subscriber_catching_up_lags_by_what_it_has_still_to_replay(tmp_path):
    log = await _gap_log(tmp_path, 10)
    try:
        async with FanOut(log, render=render_proto, page_size=2) as fanout:
            replay = fanout.subscribe(EventFilter(workspace_sid=WS), 0)
            try:
                await replay.__anext__()  # the first page: events 1 and 2, the tailer has published all 10
                assert fanout.lags() == [8]
            finally:
                await replay.aclose()
            assert fanout.lags() == []
    finally:
        await log.close()


async def test_a_replay_ahead_of_what_the_tailer_has_published_lags_by_nothing(tmp_path):
    # Not started: the tailer has published nothing yet, as when a replay reads events committed a moment
    # before the tailer hands them over.
    log = await _gap_log(tmp_path, 10)
    try:
        fanout = FanOut(log, render=render_proto, page_size=2)
        replay = fanout.subscribe(EventFilter(workspace_sid=WS), 0)
        try:
            await replay.__anext__()
            assert fanout.lags() == [0]
        finally:
            await replay.aclose()
    finally:
        await log.close()


# -- events the log lost before they were published, listeners, a failing tailer read, close ---------------------

class GapReportingLog(SqliteEventLog):
    """A real SQLite log that also lets the test report a gap, as a JetStream replica that fell behind retention
    does (the SQLite log itself never loses unpublished events), and that may refuse to push commits or fail a
    read, as a polled log can."""

    def __init__(self, *args, push: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gap_listeners: list = []
        self.push = push
        self.failing_reads = 0

    def add_gap_listener(self, listener) -> None:
        self.gap_listeners.append(listener)

    def add_commit_listener(self, listener) -> bool:
        return super().add_commit_listener(listener) if self.push else False

    async def read_after(self, *args, **kwargs):
        if self.failing_reads:
            self.failing_reads -= 1
            raise EventLogError("the log cannot be read right now")
        return await super().read_after(*args, **kwargs)

    def report_gap(self, first: int, last: int) -> None:
        for listener in self.gap_listeners:
            listener(first, last)


async def _gap_log(tmp_path, count: int, **options) -> GapReportingLog:
    log = GapReportingLog(tmp_path / "events.db", synchronous="NORMAL", **options)
    await log.open()
    if count:
        await log.append([new_event(make_event()) for _ in range(count)])
    return log


@contextlib.asynccontextmanager
async def _fanout_on(tmp_path, count: int, *, push: bool = True, **options):
    """A started fan-out (rendering the tests' proto payloads) on a GapReportingLog holding `count` events."""
    log = await _gap_log(tmp_path, count, push=push)
    try:
        async with FanOut(log, render=render_proto, **options) as fanout:
            yield log, fanout
    finally:
        await log.close()


class Recorder:
    def __init__(self, *, fail: bool = False) -> None:
        self.events: list[tuple[str, str]] = []
        self.gaps = 0
        self.fail = fail

    def on_event(self, workspace_sid, event_type, received_ms, refs) -> None:
        refs_now = refs()
        self.events.append((workspace_sid, event_type, refs_now.resource_sid if refs_now is not None else None))
        if self.fail:
            raise RuntimeError("a listener's own bug")

    def on_gap(self) -> None:
        self.gaps += 1


async def _live(fanout: FanOut, after_seq: int, ws: str = WS) -> tuple[object, asyncio.Task]:
    stream = fanout.subscribe(EventFilter(workspace_sid=ws), after_seq)
    task = asyncio.ensure_future(stream.__anext__())
    live = fanout.counters.live + 1
    await asyncio.wait_for(fanout.wait_until(lambda c: c.live >= live), WAIT)
    return stream, task


async def test_a_gap_ends_live_subscribers_of_every_workspace_with_where_to_resume(tmp_path):
    other = "WS" + "b" * 32
    recorder = Recorder()
    async with _fanout_on(tmp_path, 3) as (log, fanout):
        fanout.add_listener(recorder)
        _, mine = await _live(fanout, 3)
        _, theirs = await _live(fanout, 3, ws=other)
        log.report_gap(4, 6)
        for task in (mine, theirs):
            with pytest.raises(PositionLost) as ended:
                await asyncio.wait_for(task, WAIT)
            assert ended.value.resume_seq == 6
        assert fanout.counters.position_lost == 1 and recorder.gaps == 1


async def test_a_gap_spares_a_replay_already_past_it_and_ends_one_that_still_needs_it(tmp_path):
    async with _fanout_on(tmp_path, 10, page_size=2) as (log, fanout):
        replay = fanout.subscribe(EventFilter(workspace_sid=WS), 0)
        await replay.__anext__()  # events 1 and 2 sent; the tailer has published all 10
        log.report_gap(1, 2)  # behind it: nothing it still needs
        second = await asyncio.wait_for(replay.__anext__(), WAIT)
        assert second  # events 3 and 4
        log.report_gap(5, 8)  # ahead of where it has replayed to (4), though the tailer is past it
        with pytest.raises(PositionLost) as ended:
            await asyncio.wait_for(replay.__anext__(), WAIT)
        assert ended.value.resume_seq == 8
        assert fanout.counters.position_lost == 2


async def test_a_gap_reported_after_close_changes_nothing(tmp_path):
    log = await _gap_log(tmp_path, 1)
    recorder = Recorder()
    try:
        fanout = FanOut(log, render=render_proto)
        await fanout.start()
        fanout.add_listener(recorder)
        await fanout.close()
        log.report_gap(2, 3)
        assert fanout.counters.position_lost == 0 and recorder.gaps == 0
    finally:
        await log.close()


async def test_listeners_hear_every_event_in_order_and_one_that_fails_stops_nothing(tmp_path):
    failing, healthy = Recorder(fail=True), Recorder()
    async with _fanout_on(tmp_path, 0) as (log, fanout):
        fanout.add_listener(failing)
        fanout.add_listener(healthy)
        stream, task = await _live(fanout, 0)
        events = [make_event(kind, resource="WK" + str(n) * 32)
                  for n, kind in enumerate(["worker.created", "task.created", "worker.deleted"], 1)]
        await log.append([new_event(e) for e in events])
        await asyncio.wait_for(fanout.wait_until(lambda c: c.published >= 3), WAIT)
        assert healthy.events == failing.events == [(WS, e.event_type, e.resource_sid) for e in events]
        first = await asyncio.wait_for(task, WAIT)  # the stream goes on
        assert first
        await stream.aclose()


async def test_a_failed_read_by_the_tailer_is_retried_on_its_own(tmp_path):
    async with _fanout_on(tmp_path, 0, push=False) as (log, fanout):  # a polled log: the tailer reads what notify() announces
        stream, task = await _live(fanout, 0)
        log.failing_reads = 1
        await log.append([new_event(make_event())])
        fanout.notify()  # the read fails; no further notify comes, the retry is the tailer's own
        await asyncio.wait_for(fanout.wait_until(lambda c: c.published >= 1), WAIT)
        assert await asyncio.wait_for(task, WAIT)
        await stream.aclose()


async def test_a_live_buffer_holds_exactly_buffer_size_events_before_the_subscriber_is_too_slow(tmp_path):
    async with _fanout_on(tmp_path, 0, buffer_size=2) as (log, fanout):
        stream, task = await _live(fanout, 0)
        await log.append([new_event(make_event())])
        await asyncio.wait_for(task, WAIT)  # it has taken one message and now reads no more
        await log.append([new_event(make_event()) for _ in range(2)])
        await asyncio.wait_for(fanout.wait_until(lambda c: c.published >= 3), WAIT)
        assert fanout.counters.overflowed == 0  # two waiting: the buffer is full, not over
        await log.append([new_event(make_event())])
        await asyncio.wait_for(fanout.wait_until(lambda c: c.published >= 4), WAIT)
        assert fanout.counters.overflowed == 1
        with pytest.raises(SubscriberTooSlow):
            await asyncio.wait_for(stream.__anext__(), WAIT)


async def test_a_fresh_fan_out_counts_nothing(tmp_path):
    log = await _gap_log(tmp_path, 0)
    try:
        assert set(dataclasses.asdict(FanOut(log).counters).values()) == {0}
    finally:
        await log.close()


async def test_close_gives_up_waiting_for_a_stream_that_never_goes_and_says_so(tmp_path):
    log = await _gap_log(tmp_path, 1)
    try:
        fanout = FanOut(log, render=render_proto)
        await fanout.start()
        stream = fanout.subscribe(EventFilter(workspace_sid=WS), 0)
        await stream.__anext__()  # handed a message, the stream is never asked for the next: it cannot go
        with capture_logs() as logs:
            await fanout.close(drain_timeout=0.05)
        assert [e["subscribers"] for e in logs if e["event"] == "event_fanout.close_timeout"] == [1]
        await stream.aclose()
        assert fanout.counters.subscribers == 0
    finally:
        await log.close()
