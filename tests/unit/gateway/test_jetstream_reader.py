"""The JetStream log's reads on their own: where the consumer's cache ends and the broker's answers begin.

A read or scan older than the cache goes to the broker (one STREAM.MSG.GET per message, or one short-lived
ordered consumer for a scan); the rest comes from memory. Here the broker is a script over a list of stored
messages, so the border can be put anywhere, every request counted, and the broker's failures (an ordered
consumer that starts over, a subscribe refused, a read that times out, an unsubscribe on a dead connection)
produced on demand. The real-server tests are in test_event_log_jetstream.py and its gaps file."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import nats.errors
import pytest

from taskrouter_gateway.eventlog.jetstream import codec
from taskrouter_gateway.eventlog.jetstream.lifecycle import Lifecycle
from taskrouter_gateway.eventlog.jetstream.options import StreamOptions
from taskrouter_gateway.eventlog.jetstream.reader import StreamReader
from taskrouter_gateway.eventlog.jetstream.recent import RecentEvents
from taskrouter_gateway.eventlog.log import EventLogClosed, EventLogError, NewEvent

PREFIX = "tr.events"
WHEN = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _data(seq: int, workspace: str) -> bytes:
    return codec.encode(NewEvent(f"EV{seq:032d}", workspace, "worker.created", "WK1", 1_000 * seq, b"{}"))


class Broker:
    """The stream: seq -> (workspace, data). Answers the reader's connection calls and counts them."""

    def __init__(self, messages: dict[int, tuple[str, bytes]]) -> None:
        self.messages = messages
        self.gets: list[int] = []  # the seqs asked for by STREAM.MSG.GET
        self.subscribes: list[int] = []  # each ordered consumer's start seq
        self.redeliver: set[int] = set()  # seqs an ordered consumer delivers twice (it started over)
        self.subscribe_error: BaseException | None = None
        self.read_error: BaseException | None = None
        self.unsubscribe_error: BaseException | None = None
        self.unsubscribed = 0
        self.js = SimpleNamespace(subscribe=self._subscribe)

    def subject(self, workspace_sid: str | None) -> str:
        return codec.workspace_filter(PREFIX, workspace_sid) if workspace_sid else f"{PREFIX}.>"

    def _matching(self, subject: str, at: int) -> list[int]:
        wanted = None if subject == f"{PREFIX}.>" else subject
        return [s for s in sorted(self.messages) if s >= at
                and (wanted is None or codec.workspace_filter(PREFIX, self.messages[s][0]) == wanted)]

    def _raw(self, seq: int) -> SimpleNamespace:
        return SimpleNamespace(seq=seq, data=self.messages[seq][1], time=WHEN)

    async def next_message(self, at: int, subject: str) -> SimpleNamespace | None:
        self.gets.append(at)
        found = self._matching(subject, at)
        return self._raw(found[0]) if found else None

    async def last_message(self, subject: str) -> SimpleNamespace | None:
        found = self._matching(subject, 0)
        return self._raw(found[-1]) if found else None

    async def _subscribe(self, subject: str, *, stream: str, ordered_consumer: bool, config, **_: object):
        assert ordered_consumer and stream == "EVENTS"
        if self.subscribe_error is not None:
            raise self.subscribe_error
        self.subscribes.append(config.opt_start_seq)
        seqs = self._matching(subject, config.opt_start_seq)
        delivered = [s for s in seqs for _ in range(2 if s in self.redeliver else 1)]
        return _Subscription(self, seqs, delivered)


class _Subscription:
    def __init__(self, broker: Broker, seqs: list[int], delivered: list[int]) -> None:
        self._broker = broker
        self._seqs = seqs
        self._delivered = delivered

    async def next_msg(self, timeout: float) -> SimpleNamespace:
        if self._broker.read_error is not None:
            raise self._broker.read_error
        if not self._delivered:
            raise nats.errors.TimeoutError  # what a consumer with nothing left to deliver ends in
        seq = self._delivered.pop(0)
        pending = len([s for s in self._seqs if s > seq])
        meta = SimpleNamespace(sequence=SimpleNamespace(stream=seq), num_pending=pending, timestamp=WHEN)
        return SimpleNamespace(data=self._broker.messages[seq][1], metadata=meta)

    async def unsubscribe(self) -> None:
        self._broker.unsubscribed += 1
        if self._broker.unsubscribe_error is not None:
            raise self._broker.unsubscribe_error


class Cache:
    """The consumer as the reader sees it: its RecentEvents, holding the broker's newest messages."""

    def __init__(self, broker: Broker, cached_from: int, *, first: int = 1) -> None:
        position = max(broker.messages)
        self.recent = RecentEvents(position=cached_from - 1, cache_size=position - cached_from + 1)
        for seq in range(cached_from, position + 1):
            workspace, data = broker.messages[seq]
            self.recent.advance(seq, None if workspace == "?" else codec.decode(data, seq, 0))  # "?": a hole
        self.first = first

    async def fresh(self) -> RecentEvents:
        return self.recent

    async def current(self) -> tuple[RecentEvents, int]:
        return self.recent, self.first


def _reader(broker: Broker, cached_from: int) -> StreamReader:
    lifecycle = Lifecycle()
    lifecycle.state = "open"
    return StreamReader(broker, StreamOptions(name="EVENTS", prefix=PREFIX), Cache(broker, cached_from),  # type: ignore[arg-type]
                        lifecycle, cache_size=100, read_timeout_s=1.0)


def _stream(*workspaces: str) -> Broker:
    """Seqs 1.. each in the given workspace; "?" is a message that is not a gateway event."""
    return Broker({seq: (ws, b"\x99 not ours" if ws == "?" else _data(seq, ws))
                   for seq, ws in enumerate(workspaces, start=1)})


async def _scan(reader: StreamReader, after: int, upto: int, workspace: str | None = None) -> list[int]:
    return [e.seq async for e in reader.scan(after, upto, workspace)]


# The stream holds 1..10, all of WSA; the cache holds 6..10.
TEN = ("WSA",) * 10


async def test_a_read_older_than_the_cache_continues_into_the_cache_once_each():
    broker = _stream(*TEN)
    reader = _reader(broker, 6)
    assert [e.seq for e in await reader.read_after(0, 3, None)] == [1, 2, 3]
    assert [e.seq for e in await reader.read_after(3, 5, None)] == [4, 5, 6, 7, 8]
    assert [e.seq for e in await reader.read_after(4, 100, None)] == [5, 6, 7, 8, 9, 10]


async def test_a_read_the_cache_answers_alone_asks_the_broker_nothing():
    broker = _stream(*TEN)
    reader = _reader(broker, 6)
    assert [e.seq for e in await reader.read_after(5, 100, None)] == [6, 7, 8, 9, 10]
    assert [e.seq for e in await reader.read_after(8, 100, None)] == [9, 10]
    assert broker.gets == []


async def test_a_workspace_read_that_finds_its_next_event_in_the_cache_takes_it_from_the_cache_once():
    # WSA's next message after 2 is 8, already in the cache: the broker's answer is not taken as well.
    broker = _stream("WSA", "WSA", "WSC", "WSB", "WSB", "WSB", "WSB", "WSA", "WSB", "WSB")
    reader = _reader(broker, 6)
    assert [e.seq for e in await reader.read_after(0, 100, "WSA")] == [1, 2, 8]
    # WSC's last message is 3: the broker has nothing after it, and the read ends there.
    assert [e.seq for e in await reader.read_after(0, 100, "WSC")] == [3]


async def test_a_message_that_is_not_a_gateway_event_is_stepped_over_by_a_read():
    broker = _stream("WSA", "?", "WSA", "?", "WSA", "WSA", "WSA")
    reader = _reader(broker, 6)
    assert [e.seq for e in await reader.read_after(0, 100, None)] == [1, 3, 5, 6, 7]
    assert [e.seq for e in await reader.read_after(1, 2, None)] == [3, 5]


async def test_the_newest_event_date_of_a_workspace_comes_from_its_last_message():
    broker = _stream("WSA", "WSB", "WSA", "WSB", "?")
    reader = _reader(broker, 5)
    assert await reader.newest_event_date_ms("WSA") == 3_000
    assert await reader.newest_event_date_ms("WSC") is None
    assert await reader.newest_event_date_ms("?") is None  # its last message is not an event


async def test_a_scan_older_than_the_cache_yields_every_event_once_across_the_border():
    broker = _stream(*TEN)
    reader = _reader(broker, 6)
    assert await _scan(reader, 0, 10) == list(range(1, 11))
    assert await _scan(reader, 2, 7) == [3, 4, 5, 6, 7]
    assert await _scan(reader, 0, 4) == [1, 2, 3, 4]
    assert broker.subscribes == [1, 3, 1]  # one ordered consumer a scan, from its first event


async def test_a_scan_inside_the_cache_asks_the_broker_nothing():
    broker = _stream(*TEN)
    reader = _reader(broker, 6)
    assert await _scan(reader, 8, 10) == [9, 10]
    assert await _scan(reader, 6, 10) == [7, 8, 9, 10]  # after the cache's first event
    assert await _scan(reader, 5, 10) == [6, 7, 8, 9, 10]
    assert await _scan(reader, 3, 3) == []  # an empty range
    assert broker.gets == [] and broker.subscribes == []


async def test_a_scan_with_nothing_of_its_workspace_before_the_cache_opens_no_consumer():
    broker = _stream("WSA", "WSB", "WSB", "WSB", "WSB", "WSB", "WSA", "WSB")
    reader = _reader(broker, 6)
    assert await _scan(reader, 1, 8, "WSA") == [7]
    assert await _scan(reader, 0, 8, "WSC") == []
    assert broker.subscribes == []


async def test_a_scan_stops_at_the_last_pending_message_without_waiting_for_more():
    # WSA's last message before the cache is 3: the consumer says nothing is pending after it, and the scan
    # ends there instead of waiting out the read timeout for a message that will not come.
    broker = _stream("WSA", "WSB", "WSA", "WSB", "WSB", "WSB", "WSB")
    reader = _reader(broker, 6)
    assert await _scan(reader, 0, 7, "WSA") == [1, 3]
    assert broker.unsubscribed == 1


async def test_a_scan_skips_what_an_ordered_consumer_delivers_again_after_starting_over():
    broker = _stream(*TEN)
    broker.redeliver = {2, 3}
    reader = _reader(broker, 6)
    assert await _scan(reader, 0, 10) == list(range(1, 11))


async def test_a_scan_steps_over_messages_that_are_not_gateway_events():
    broker = _stream("WSA", "?", "WSA", "WSA", "?", "WSA", "WSA")
    reader = _reader(broker, 6)
    assert await _scan(reader, 0, 7) == [1, 3, 4, 6, 7]


async def test_get_finds_an_event_older_than_the_cache_by_its_sid():
    broker = _stream(*TEN)
    reader = _reader(broker, 6)
    for seq in (1, 2, 9):  # 1: the stream's first message
        found = await reader.get(f"EV{seq:032d}")
        assert found is not None and found.seq == seq
    assert await reader.get("EVnone") is None


@pytest.mark.parametrize(("failing", "error", "reason"), [
    ("subscribe_error", nats.errors.NoRespondersError(), "cannot read the stream from seq 1"),
    ("subscribe_error", nats.errors.TimeoutError(), "cannot read the stream from seq 1"),
    ("subscribe_error", TimeoutError(), "cannot read the stream from seq 1"),
    ("read_error", nats.errors.TimeoutError(), "after seq 0 timed out"),
    ("read_error", TimeoutError(), "after seq 0 timed out"),
], ids=["refused: no responders", "refused: nats timeout", "refused: timeout", "quiet: nats timeout", "quiet: timeout"])
async def test_a_scan_the_broker_fails_is_an_event_log_error_and_lets_its_consumer_go(failing, error, reason):
    broker = _stream(*TEN)
    setattr(broker, failing, error)
    reader = _reader(broker, 6)
    with pytest.raises(EventLogError, match=reason):
        await _scan(reader, 0, 10)
    assert broker.unsubscribed == len(broker.subscribes)  # a consumer made is a consumer let go


async def test_a_scan_ends_cleanly_when_its_consumer_cannot_be_let_go():
    broker = _stream(*TEN)
    broker.unsubscribe_error = nats.errors.ConnectionClosedError()
    reader = _reader(broker, 6)
    assert await _scan(reader, 0, 10) == list(range(1, 11))
    assert broker.unsubscribed == 1


async def test_a_closed_reader_refuses_to_scan():
    broker = _stream(*TEN)
    reader = _reader(broker, 6)
    reader._lifecycle.state = "closed"
    with pytest.raises(EventLogClosed):
        await _scan(reader, 0, 10)
