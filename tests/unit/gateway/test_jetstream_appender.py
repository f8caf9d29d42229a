"""The JetStream log's publish loop on its own: which broker answers are retried with the same msg id (the broker
dedups it), which fail the append at once, and how the retries are paced within the write timeout.

A broker that says "duplicate message id is in process" (an R3 publish of the same id still replicating) or has
no leader cannot be produced on demand by a real server; here the connection's publish answers from a script,
and time is a virtual clock that the retry pauses advance. The real-server tests are in
test_event_log_jetstream.py and test_event_log_jetstream_gaps.py."""

from __future__ import annotations

from types import SimpleNamespace

import nats.errors
import nats.js.errors
import pytest

from taskrouter_gateway.eventlog.jetstream import appender as appender_module
from taskrouter_gateway.eventlog.jetstream.appender import Appender
from taskrouter_gateway.eventlog.jetstream.lifecycle import Lifecycle
from taskrouter_gateway.eventlog.jetstream.options import StreamOptions
from taskrouter_gateway.eventlog.log import EventLogWriteError, NewEvent

IN_PROCESS = nats.js.errors.APIError(code=400, err_code=10158, description="duplicate message id is in process")


class ScriptedBroker:
    """js.publish answering from a script: an exception is raised, anything else acknowledges as that seq."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.timeouts: list[float] = []
        self.msg_ids: list[str] = []

    async def publish(self, subject: str, data: bytes, *, timeout: float, headers: dict, stream: str):
        self.timeouts.append(timeout)
        self.msg_ids.append(headers["Nats-Msg-Id"])
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        return SimpleNamespace(seq=answer, duplicate=False)


class Clock:
    """time.monotonic for the appender, moved only by its retry pauses (which are recorded)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.pauses: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += max(seconds, 0.0)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    virtual = Clock()
    monkeypatch.setattr(appender_module.time, "monotonic", virtual.monotonic)
    monkeypatch.setattr(appender_module.asyncio, "sleep", virtual.sleep)
    return virtual


class NoEarlierCopies:
    def beyond_broker_dedup(self, ev: NewEvent) -> bool:
        return False

    async def learn(self, published: list) -> None:
        pass


class Acks:
    def __init__(self) -> None:
        self.seqs: list[int] = []

    def acked(self, seq: int) -> None:
        self.seqs.append(seq)


class NoLead:
    async def record(self, lead_ms: int) -> None:
        pass


def _appender(broker: ScriptedBroker, *, write_timeout_s: float = 5.0) -> tuple[Appender, Acks]:
    acks = Acks()
    appender = Appender(SimpleNamespace(js=broker), StreamOptions(name="S", prefix="s"), Lifecycle(), acks,  # type: ignore[arg-type]
                        NoEarlierCopies(), NoLead(), max_in_flight=4, write_timeout_s=write_timeout_s,  # type: ignore[arg-type]
                        clock_ms=lambda: 0)
    return appender, acks


EV = NewEvent("EV" + "1" * 32, "WS" + "1" * 32, "task.created", "", 1_000, b"x")


@pytest.mark.parametrize("transient", [
    IN_PROCESS,
    nats.js.errors.APIError(code=503, description="JetStream system temporarily unavailable"),
    nats.js.errors.APIError(code=500, description="leader not known"),
    nats.errors.TimeoutError(),
    nats.js.errors.NoStreamResponseError(),
    nats.errors.NoRespondersError(),
    nats.errors.ConnectionReconnectingError(),
], ids=lambda e: type(e).__name__ + str(getattr(e, "err_code", "") or getattr(e, "code", "") or ""))
async def test_a_transient_answer_is_retried_with_the_same_msg_id_after_a_short_pause(clock, transient) -> None:
    broker = ScriptedBroker(transient, transient, 7)
    appender, acks = _appender(broker)
    [result] = await appender.append([EV])
    assert (result.seq, result.duplicate) == (7, False) and acks.seqs == [7]
    assert broker.msg_ids == [EV.sid] * 3
    assert clock.pauses == [0.05, 0.05]


@pytest.mark.parametrize("refusal", [
    nats.js.errors.APIError(code=400, err_code=10054, description="maximum message size exceeded"),
    nats.js.errors.APIError(code=400, err_code=10157, description="some other refusal"),
    nats.js.errors.APIError(code=400, err_code=10159, description="and another"),
])
async def test_a_refusal_fails_the_append_at_once_with_the_brokers_reason(clock, refusal) -> None:
    broker = ScriptedBroker(refusal)
    appender, acks = _appender(broker)
    with pytest.raises(EventLogWriteError, match=f"not stored: {refusal.description}"):
        await appender.append([EV])
    assert len(broker.msg_ids) == 1 and clock.pauses == [] and acks.seqs == []


async def test_a_closed_connection_fails_the_append_at_once(clock) -> None:
    broker = ScriptedBroker(nats.errors.ConnectionClosedError())
    appender, _ = _appender(broker)
    with pytest.raises(EventLogWriteError, match="not stored: nats: connection closed"):
        await appender.append([EV])
    assert len(broker.msg_ids) == 1


async def test_each_try_waits_at_most_two_seconds_and_never_past_the_write_timeout(clock) -> None:
    broker = ScriptedBroker(nats.errors.TimeoutError(), 3)
    appender, _ = _appender(broker, write_timeout_s=5.0)
    await appender.append([EV])
    assert broker.timeouts == [2.0, 2.0]
    broker = ScriptedBroker(4)
    appender, _ = _appender(broker, write_timeout_s=0.5)
    await appender.append([EV])
    assert broker.timeouts == [0.5]


async def test_retries_end_at_the_write_timeout_with_the_last_pause_cut_to_fit(clock) -> None:
    broker = ScriptedBroker(IN_PROCESS)  # for ever
    appender, acks = _appender(broker, write_timeout_s=0.125)
    with pytest.raises(EventLogWriteError, match=r"no acknowledgement from NATS stream S within 0.125s"):
        await appender.append([EV])
    assert clock.pauses[:2] == [0.05, 0.05] and clock.pauses[2] == pytest.approx(0.025)
    assert len(clock.pauses) == 3 and len(broker.msg_ids) == 3 and acks.seqs == []
    assert clock.now - 1000.0 == pytest.approx(0.125)

