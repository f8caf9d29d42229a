"""The shared marks (one JetStream key-value bucket) only ever grow: raise_to is a compare-and-set retried on a lost
race, a value no gateway wrote reads as absent, and a store that fails is an EventLogError. Lead: the largest lead
any replica recorded, and how far before an event's date a time lookup must start.

The bucket is an in-memory fake with the nats-py key-value semantics the module relies on: `get` raises
KeyNotFoundError for a key never written, `create` and `update(last=revision)` raise KeyWrongLastSequenceError when
another writer got there first, and every write bumps the bucket's revision."""

from __future__ import annotations

from collections.abc import Callable

import nats.errors
import nats.js.errors
import pytest
from nats.js import api
from nats.js.kv import KeyValue

from test_jetstream_settle import record_sleeps
from taskrouter_gateway.eventlog.jetstream.marks import CLOCK_MARGIN_MS, LEAD_KEY, Lead, SharedMarks
from taskrouter_gateway.eventlog.log import EventLogError


class FakeKV:
    """One bucket. `before_write(key)` runs before each create/update: a test's other replica writes there."""

    def __init__(self) -> None:
        self.entries: dict[str, KeyValue.Entry] = {}
        self.revision = 0
        self.calls: list[str] = []
        self.before_write: Callable[[str], None] = lambda key: None
        self.fail_with: BaseException | None = None

    def put(self, key: str, value: bytes | None) -> None:
        self.revision += 1
        self.entries[key] = KeyValue.Entry("marks", key, value, self.revision, None, None, None)

    def _call(self, what: str) -> None:
        self.calls.append(what)
        if self.fail_with is not None:
            raise self.fail_with

    async def get(self, key: str) -> KeyValue.Entry:
        self._call("get")
        if key not in self.entries:
            raise nats.js.errors.KeyNotFoundError()
        return self.entries[key]

    async def create(self, key: str, value: bytes) -> int:
        self._call("create")
        self.before_write(key)
        if key in self.entries:
            raise nats.js.errors.KeyWrongLastSequenceError("wrong last sequence: 1")
        self.put(key, value)
        return self.revision

    async def update(self, key: str, value: bytes, last: int | None = None) -> int:
        self._call("update")
        self.before_write(key)
        if key not in self.entries or self.entries[key].revision != last:
            raise nats.js.errors.KeyWrongLastSequenceError(f"wrong last sequence: {self.revision}")
        self.put(key, value)
        return self.revision


class FakeJS:
    """The JetStream context: the bucket is created on first use (as open_bucket does) and found afterwards."""

    def __init__(self, kv: FakeKV) -> None:
        self.kv = kv
        self.created: list[api.KeyValueConfig] = []
        self.lookups = 0

    async def key_value(self, bucket: str) -> FakeKV:
        self.lookups += 1
        if not self.created:
            raise nats.js.errors.BucketNotFoundError()
        return self.kv

    async def create_key_value(self, config: api.KeyValueConfig) -> FakeKV:
        self.created.append(config)
        return self.kv


@pytest.fixture
def kv() -> FakeKV:
    return FakeKV()


@pytest.fixture
def js(kv: FakeKV) -> FakeJS:
    return FakeJS(kv)


@pytest.fixture
def shared(js: FakeJS) -> SharedMarks:
    return SharedMarks(js, "EVENTS_marks")


async def test_the_bucket_is_opened_once_with_the_replicas_asked_for(js: FakeJS, kv: FakeKV) -> None:
    marks = SharedMarks(js, "EVENTS_marks", replicas=3)
    assert await marks.get("mark.WS1") is None
    await marks.raise_to("mark.WS1", 5)
    assert await marks.get("mark.WS1") == 5
    assert [(c.bucket, c.replicas, c.history) for c in js.created] == [("EVENTS_marks", 3, 1)]
    assert js.lookups == 1


async def test_one_replica_by_default(js: FakeJS) -> None:
    await SharedMarks(js, "M").get("lead")
    assert [c.replicas for c in js.created] == [1]


async def test_a_key_never_written_reads_as_absent(shared: SharedMarks) -> None:
    assert await shared.get("mark.WS1") is None


@pytest.mark.parametrize("raw", [b"", None, b"soon", b"1.5", b"\xff"])  # b"\xff": not even UTF-8
async def test_a_value_no_gateway_wrote_reads_as_absent(shared: SharedMarks, kv: FakeKV, raw: bytes | None) -> None:
    kv.put("mark.WS1", raw)
    assert await shared.get("mark.WS1") is None


async def test_raise_to_creates_a_key_then_only_ever_raises_it(shared: SharedMarks, kv: FakeKV) -> None:
    assert await shared.raise_to("mark.WS1", 100) == 100
    assert await shared.get("mark.WS1") == 100
    assert await shared.raise_to("mark.WS1", 250) == 250
    assert await shared.get("mark.WS1") == 250
    assert await shared.raise_to("mark.WS1", 90) == 250  # lower: the stored value stands
    assert await shared.get("mark.WS1") == 250 and kv.entries["mark.WS1"].value == b"250"


async def test_raising_to_the_stored_value_writes_nothing(shared: SharedMarks, kv: FakeKV) -> None:
    await shared.raise_to("mark.WS1", 7)
    revision = kv.revision
    assert await shared.raise_to("mark.WS1", 7) == 7
    assert kv.revision == revision and kv.calls.count("update") == 0


async def test_a_value_no_gateway_wrote_is_replaced(shared: SharedMarks, kv: FakeKV) -> None:
    kv.put("mark.WS1", b"garbage")
    assert await shared.raise_to("mark.WS1", 3) == 3
    assert kv.entries["mark.WS1"].value == b"3"
    kv.put("lead", None)
    assert await shared.raise_to("lead", 4) == 4


async def test_a_key_created_by_another_replica_meanwhile_is_read_again(shared: SharedMarks, kv: FakeKV) -> None:
    def other_replica_creates(key: str) -> None:
        if key not in kv.entries:
            kv.put(key, b"500")

    kv.before_write = other_replica_creates
    assert await shared.raise_to("mark.WS1", 300) == 500  # theirs is higher: it stands
    assert kv.calls == ["get", "create", "get"]
    kv.entries.clear()
    kv.calls.clear()
    assert await shared.raise_to("mark.WS1", 900) == 900  # ours is higher: it replaces theirs
    assert kv.calls == ["get", "create", "get", "update"] and kv.entries["mark.WS1"].value == b"900"


async def test_a_lost_update_is_tried_again_at_once_on_the_new_value(shared: SharedMarks, kv: FakeKV,
                                                                    monkeypatch) -> None:
    pauses = record_sleeps(monkeypatch)
    kv.put("mark.WS1", b"10")
    moves = iter([b"20", b"30"])

    def other_replica_raises(key: str) -> None:
        value = next(moves, None)
        if value is not None:
            kv.put(key, value)

    kv.before_write = other_replica_raises
    assert await shared.raise_to("mark.WS1", 40) == 40
    assert kv.calls == ["get", "update", "get", "update", "get", "update"]
    assert len(pauses) == 2 and all(pause <= 0 for pause in pauses)  # a yield, not a wait


async def test_a_race_lost_to_a_higher_value_returns_that_value(shared: SharedMarks, kv: FakeKV) -> None:
    kv.put("lead", b"10")
    kv.before_write = lambda key: kv.put(key, b"99") if kv.entries[key].value == b"10" else None
    assert await shared.raise_to("lead", 50) == 99
    assert kv.entries["lead"].value == b"99"


def _losing_races(kv: FakeKV, times: int) -> None:
    # Another replica raises the key (to a value still below ours) before each of our first `times` writes.
    lost = iter(range(times))

    def other_replica_raises(key: str) -> None:
        if next(lost, None) is not None:
            kv.put(key, str(int(kv.entries[key].value or b"0") + 1).encode())

    kv.put("mark.WS1", b"0")
    kv.before_write = other_replica_raises


async def test_twenty_tries_are_made_before_giving_up(shared: SharedMarks, kv: FakeKV) -> None:
    _losing_races(kv, 19)
    assert await shared.raise_to("mark.WS1", 1000) == 1000
    assert kv.calls.count("update") == 20


async def test_a_key_that_keeps_changing_is_not_stored_and_says_so(shared: SharedMarks, kv: FakeKV) -> None:
    _losing_races(kv, 20)
    with pytest.raises(EventLogError, match="shared mark mark.WS1 keeps changing under this replica; not stored"):
        await shared.raise_to("mark.WS1", 1000)
    assert kv.calls.count("update") == 20 and kv.entries["mark.WS1"].value == b"20"


@pytest.mark.parametrize("error", [nats.errors.TimeoutError(), TimeoutError(), nats.errors.NoRespondersError(),
                                   nats.js.errors.ServiceUnavailableError(), nats.errors.ConnectionClosedError()])
async def test_a_store_that_fails_is_an_event_log_error(shared: SharedMarks, kv: FakeKV,
                                                        error: BaseException) -> None:
    kv.put("mark.WS1", b"5")
    kv.fail_with = error
    with pytest.raises(EventLogError, match=r"shared marks \(EVENTS_marks\) unavailable"):
        await shared.get("mark.WS1")
    with pytest.raises(EventLogError, match=r"shared marks \(EVENTS_marks\) unavailable"):
        await shared.raise_to("mark.WS1", 9)


async def test_a_bucket_that_cannot_be_opened_is_an_event_log_error() -> None:
    class Unreachable:
        async def key_value(self, bucket: str) -> None:
            raise nats.errors.NoRespondersError()

    with pytest.raises(EventLogError, match="unavailable"):
        await SharedMarks(Unreachable(), "M").get("lead")
    with pytest.raises(EventLogError, match="unavailable"):
        await SharedMarks(Unreachable(), "M").raise_to("lead", 1)


# -- Lead ---------------------------------------------------------------------------------------------------

async def test_a_lead_starts_at_zero_and_loads_what_any_replica_recorded(shared: SharedMarks, kv: FakeKV) -> None:
    lead = Lead(shared)
    assert lead.ms == 0
    await lead.load()
    assert lead.ms == 0  # nothing recorded yet
    kv.put(LEAD_KEY, b"1500")
    await lead.load()
    assert lead.ms == 1500


@pytest.mark.parametrize("raw", [b"-5", b"0", b"not a number"])
async def test_a_lead_that_is_not_positive_loads_as_zero(shared: SharedMarks, kv: FakeKV, raw: bytes) -> None:
    kv.put(LEAD_KEY, raw)
    lead = Lead(shared)
    await lead.load()
    assert lead.ms == 0


def test_a_lead_seen_in_the_stream_only_raises_it() -> None:
    lead = Lead(SharedMarks(None, "M"))
    lead.saw(300)
    assert lead.ms == 300
    lead.saw(100)
    lead.saw(-50)
    assert lead.ms == 300
    lead.saw(301)
    assert lead.ms == 301


async def test_recording_a_larger_lead_stores_it_for_every_replica(shared: SharedMarks, kv: FakeKV) -> None:
    lead = Lead(shared)
    await lead.record(2000)
    assert lead.ms == 2000 and kv.entries[LEAD_KEY].value == b"2000"
    kv.put(LEAD_KEY, b"5000")  # another replica recorded more meanwhile: this one learns it
    await lead.record(3000)
    assert lead.ms == 5000 and kv.entries[LEAD_KEY].value == b"5000"


async def test_a_lead_already_known_is_not_recorded_again(shared: SharedMarks, kv: FakeKV) -> None:
    lead = Lead(shared)
    await lead.record(0)
    await lead.record(-10)
    assert kv.calls == [] and lead.ms == 0
    await lead.record(700)
    calls = len(kv.calls)
    await lead.record(700)  # an append per event: no round trip to the bucket when nothing is new
    await lead.record(500)
    assert len(kv.calls) == calls and lead.ms == 700


async def test_a_lead_that_cannot_be_recorded_is_an_event_log_error(shared: SharedMarks, kv: FakeKV) -> None:
    lead = Lead(shared)
    kv.fail_with = nats.errors.TimeoutError()
    with pytest.raises(EventLogError):
        await lead.record(100)
    assert lead.ms == 0


def test_lookups_start_the_lead_and_a_minute_before_an_events_date() -> None:
    lead = Lead(SharedMarks(None, "M"))
    assert CLOCK_MARGIN_MS == 60_000  # docs/event-history.md: a 60 s margin for the broker's clock
    assert lead.earliest_stored_ms(1_000_000) == 940_000
    lead.saw(2_500)
    assert lead.earliest_stored_ms(1_000_000) == 937_500
