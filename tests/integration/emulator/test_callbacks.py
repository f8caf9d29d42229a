"""Event-callback delivery against a real aiohttp receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import random
import socket
from dataclasses import dataclass
from urllib.parse import parse_qsl

import pytest
import structlog
from aiohttp import web
from twilio.request_validator import RequestValidator

from taskrouter_emulator.callbacks import CallbackDispatcher, callback_form
from taskrouter_emulator.faults import CallbackFaults, FaultInjector
from taskrouter_emulator.model import Event, Workspace
from taskrouter_emulator.sids import new_sid

TOKEN = "callback-test-token-" + "9" * 12
ACCOUNT = "AC" + "a" * 32
WAIT = 10  # seconds: an upper bound for conditions, never a pause


# --- a real receiver ----------------------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    url: str
    body: str
    form: dict[str, str]
    headers: dict[str, str]

    @property
    def sid(self) -> str:
        return self.form["Sid"]


class Receiver:
    """Records every POST; answers from `script` (a status, or "hang" until released), else 204."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[Received] = asyncio.Queue()
        self.script: list[int | str] = []
        self.release = asyncio.Event()
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        await self.inbox.put(
            Received(request.path, str(request.url), body, dict(parse_qsl(body, keep_blank_values=True)),
                     dict(request.headers))
        )
        action = self.script.pop(0) if self.script else 204
        if action == "hang":
            await self.release.wait()
            return web.Response(status=204)
        return web.Response(status=int(action))

    def url(self, path: str = "/cb") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def next(self) -> Received:
        return await asyncio.wait_for(self.inbox.get(), WAIT)

    def drain(self) -> list[Received]:
        items = []
        while not self.inbox.empty():
            items.append(self.inbox.get_nowait())
        return items


@pytest.fixture
async def receiver():
    rec = Receiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.port = runner.addresses[0][1]
    yield rec
    rec.release.set()
    await runner.cleanup()


@pytest.fixture
async def make_dispatcher():
    made: list[CallbackDispatcher] = []

    async def make(faults: CallbackFaults | None = None, **kwargs) -> CallbackDispatcher:
        dispatcher = CallbackDispatcher(TOKEN, faults or CallbackFaults(), **kwargs)
        await dispatcher.start()
        made.append(dispatcher)
        return dispatcher

    yield make
    for dispatcher in made:
        await dispatcher.close()


class GatedSleep:
    """Stands in for asyncio.sleep so a test can see a delay begin and decide when it ends."""

    def __init__(self) -> None:
        self.requested: list[float] = []
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.requested.append(seconds)
        self.entered.set()
        await self.release.wait()


def workspace(url: str | None, name: str = "Support", events_filter: str | None = None) -> Workspace:
    return Workspace(sid=new_sid("WS"), account_sid=ACCOUNT, friendly_name=name, event_callback_url=url,
                     events_filter=events_filter)


def event(ws: Workspace, event_type: str = "worker.activity.update", n: int = 0) -> Event:
    worker_sid = new_sid("WK")
    return Event(
        sid=new_sid("EV"),
        account_sid=ACCOUNT,
        workspace_sid=ws.sid,
        event_type=event_type,
        resource_type="worker",
        resource_sid=worker_sid,
        description=f"Worker Alice-{n} updated to Idle Activity",
        event_data={
            "worker_sid": worker_sid,
            "worker_name": f"Alice-{n}",
            "worker_attributes": '{"skills": ["en"]}',
            "worker_activity_sid": "WA" + "b" * 32,
            "worker_activity_name": "Idle",
            "worker_version": str(n),
        },
        event_date_ms=1_700_000_000_000 + n,
    )


async def idle(dispatcher: CallbackDispatcher) -> None:
    await asyncio.wait_for(dispatcher.wait_idle(), WAIT)


def verify(received: Received) -> bool:
    """An independent X-Twilio-Signature check over what actually arrived."""
    payload = received.url + "".join(k + v for k, v in sorted(parse_qsl(received.body, keep_blank_values=True)))
    expected = base64.b64encode(hmac.new(TOKEN.encode(), payload.encode(), hashlib.sha1).digest()).decode()
    return hmac.compare_digest(expected, received.headers.get("X-Twilio-Signature", ""))


# --- the form ----------------------------------------------------------------------------------------------


def test_callback_form_has_common_fields_and_camel_cased_event_data():
    ws = Workspace(sid="WS" + "1" * 32, account_sid=ACCOUNT, friendly_name="Support")
    ev = Event(
        sid="EV" + "2" * 32,
        account_sid=ACCOUNT,
        workspace_sid=ws.sid,
        event_type="worker.activity.update",
        resource_type="worker",
        resource_sid="WK" + "3" * 32,
        description="Worker Alice updated to Idle Activity",
        event_data={
            "worker_sid": "WK" + "3" * 32,
            "worker_name": "Alice",
            "worker_time_in_previous_activity": "26",
            "worker_time_in_previous_activity_ms": "26123",
            "worker_previous_activity_sid": "WA" + "4" * 32,
            "operating_unit_sid": "OU" + "5" * 32,
        },
        event_date_ms=1_700_000_123_456,
    )
    assert callback_form(ws, ev) == {
        "EventType": "worker.activity.update",
        "AccountSid": ACCOUNT,
        "WorkspaceSid": "WS" + "1" * 32,
        "WorkspaceName": "Support",
        "EventDescription": "Worker Alice updated to Idle Activity",
        "ResourceType": "Worker",
        "ResourceSid": "WK" + "3" * 32,
        "Timestamp": "1700000123",
        "TimestampMs": "1700000123456",
        "Sid": "EV" + "2" * 32,
        "WorkerSid": "WK" + "3" * 32,
        "WorkerName": "Alice",
        "WorkerTimeInPreviousActivity": "26",
        "WorkerTimeInPreviousActivityMs": "26123",
        "WorkerPreviousActivitySid": "WA" + "4" * 32,
        "OperatingUnitSid": "OU" + "5" * 32,
    }


@pytest.mark.parametrize(
    "resource_type, expected",
    [("worker", "Worker"), ("activity", "Activity"), ("workspace", "Workspace"), ("task-queue", "TaskQueue"),
     ("taskqueue", "TaskQueue"), ("reservation", "Reservation")],
)
def test_callback_form_capitalises_resource_type(resource_type, expected):
    ws = workspace(None)
    ev = event(ws)
    ev.resource_type = resource_type
    assert callback_form(ws, ev)["ResourceType"] == expected


def test_callback_form_common_fields_win_and_values_are_strings():
    ws = workspace(None, name="Current Name")
    ev = event(ws)
    ev.event_data = {"workspace_name": "Stale Name", "worker_version": 7, "activity_available": True}
    form = callback_form(ws, ev)
    assert form["WorkspaceName"] == "Current Name"
    assert form["WorkerVersion"] == "7"
    assert form["ActivityAvailable"] == "true"
    assert all(isinstance(value, str) for value in form.values())


# --- delivery ----------------------------------------------------------------------------------------------


async def test_delivers_signed_form_post(receiver, make_dispatcher):
    dispatcher = await make_dispatcher()
    ws = workspace(receiver.url("/hooks/taskrouter?tenant=acme&x=a%20b"))
    ev = event(ws)
    dispatcher.submit(ws, ev)
    got = await receiver.next()
    await idle(dispatcher)

    assert got.path == "/hooks/taskrouter"
    assert got.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert got.form == callback_form(ws, ev)
    assert verify(got)
    assert RequestValidator(TOKEN).validate(got.url, got.form, got.headers["X-Twilio-Signature"])
    assert not RequestValidator("another-token").validate(got.url, got.form, got.headers["X-Twilio-Signature"])
    assert dispatcher.stats.delivered == 1 and dispatcher.stats.failed == 0 and dispatcher.pending == 0


async def test_order_is_kept_per_workspace_across_200_events(receiver, make_dispatcher):
    dispatcher = await make_dispatcher()
    first, second = workspace(receiver.url("/a")), workspace(receiver.url("/b"))
    sent: dict[str, list[str]] = {first.sid: [], second.sid: []}
    for n in range(200):
        for ws in (first, second) if n % 4 == 0 else (first,):
            ev = event(ws, n=n)
            sent[ws.sid].append(ev.sid)
            dispatcher.submit(ws, ev)
    await idle(dispatcher)

    arrived: dict[str, list[str]] = {first.sid: [], second.sid: []}
    for got in receiver.drain():
        arrived[got.form["WorkspaceSid"]].append(got.sid)
    assert arrived == sent
    assert len(sent[first.sid]) == 200 and len(sent[second.sid]) == 50
    assert dispatcher.stats.delivered == 250 and dispatcher.stats.submitted == 250


async def test_a_stuck_workspace_does_not_block_others(receiver, make_dispatcher):
    dispatcher = await make_dispatcher()
    slow, fast = workspace(receiver.url("/slow")), workspace(receiver.url("/fast"))
    receiver.script = ["hang"]
    dispatcher.submit(slow, event(slow))
    assert (await receiver.next()).path == "/slow"  # now stuck until released

    fast_events = [event(fast, n=n) for n in range(3)]
    for ev in fast_events:
        dispatcher.submit(fast, ev)
    dispatcher.submit(slow, later := event(slow, n=9))
    assert [(await receiver.next()).sid for _ in fast_events] == [ev.sid for ev in fast_events]
    assert receiver.inbox.empty()  # the slow workspace's second callback waits behind its first

    receiver.release.set()
    assert (await receiver.next()).sid == later.sid
    await idle(dispatcher)
    assert dispatcher.stats.delivered == 5


async def test_events_filter_and_missing_url_skip(receiver, make_dispatcher):
    dispatcher = await make_dispatcher()
    filtered = workspace(receiver.url(), events_filter="worker.created, worker.activity.update")
    no_url = workspace(None)
    empty_url = workspace("")
    kept = [event(filtered, "worker.created"), event(filtered, "worker.activity.update")]
    dispatcher.submit(filtered, event(filtered, "worker.attributes.update"))
    dispatcher.submit(filtered, kept[0])
    dispatcher.submit(no_url, event(no_url))
    dispatcher.submit(empty_url, event(empty_url))
    dispatcher.submit(filtered, kept[1])
    await idle(dispatcher)

    assert [got.sid for got in receiver.drain()] == [ev.sid for ev in kept]
    assert dispatcher.stats.skipped == 3 and dispatcher.stats.submitted == 2


async def test_url_and_name_are_taken_at_submit_time(receiver, make_dispatcher):
    dispatcher = await make_dispatcher()
    ws = workspace(receiver.url("/old"), name="Before")
    ev = event(ws)
    dispatcher.submit(ws, ev)
    ws.event_callback_url, ws.friendly_name = receiver.url("/new"), "After"
    ws.events_filter = "worker.created"
    await idle(dispatcher)
    got = receiver.drain()
    assert [(g.path, g.form["WorkspaceName"], g.sid) for g in got] == [("/old", "Before", ev.sid)]


# --- failures: logged, never retried, later callbacks still go out ----------------------------------------


def assert_no_secrets(logs: list[dict], ev: Event, ws: Workspace) -> None:
    forbidden = [TOKEN, ev.event_data["worker_name"], ev.event_data["worker_attributes"], ev.description,
                 ws.friendly_name]
    text = repr(logs)
    assert not [value for value in forbidden if value in text]


async def test_receiver_error_is_logged_not_retried(receiver, make_dispatcher):
    dispatcher = await make_dispatcher()
    ws = workspace(receiver.url("/cb?key=secret-in-query"), name="Private Workspace")
    failing, later = event(ws, n=1), event(ws, n=2)
    receiver.script = [500]
    with structlog.testing.capture_logs() as logs:
        dispatcher.submit(ws, failing)
        dispatcher.submit(ws, later)
        await idle(dispatcher)

    assert [got.sid for got in receiver.drain()] == [failing.sid, later.sid]
    assert (dispatcher.stats.failed, dispatcher.stats.delivered) == (1, 1)
    failures = [entry for entry in logs if entry["event"] == "event_callback_failed"]
    assert len(failures) == 1
    assert failures[0]["status"] == 500 and failures[0]["retried"] is False
    assert failures[0]["event_sid"] == failing.sid and failures[0]["log_level"] == "warning"
    assert "secret-in-query" not in repr(logs)
    assert_no_secrets(logs, failing, ws)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_receiver_down_is_logged_and_later_events_go_out(receiver, make_dispatcher):
    dispatcher = await make_dispatcher()
    ws = workspace(f"http://127.0.0.1:{closed_port()}/cb")
    unreachable = event(ws, n=1)
    with structlog.testing.capture_logs() as logs:
        dispatcher.submit(ws, unreachable)
        ws.event_callback_url = receiver.url()
        later = event(ws, n=2)
        dispatcher.submit(ws, later)
        await idle(dispatcher)

    assert [got.sid for got in receiver.drain()] == [later.sid]
    assert (dispatcher.stats.failed, dispatcher.stats.delivered) == (1, 1)
    [failure] = [entry for entry in logs if entry["event"] == "event_callback_failed"]
    assert failure["event_sid"] == unreachable.sid and failure["error"].startswith("ClientConnector")
    assert_no_secrets(logs, unreachable, ws)


async def test_receiver_timeout_is_logged_not_retried(receiver, make_dispatcher):
    dispatcher = await make_dispatcher(timeout=0.2)
    ws = workspace(receiver.url())
    slow, later = event(ws, n=1), event(ws, n=2)
    receiver.script = ["hang"]  # the first request never gets an answer within the timeout
    with structlog.testing.capture_logs() as logs:
        dispatcher.submit(ws, slow)
        dispatcher.submit(ws, later)
        await idle(dispatcher)

    assert [got.sid for got in receiver.drain()] == [slow.sid, later.sid]
    assert (dispatcher.stats.failed, dispatcher.stats.delivered) == (1, 1)
    [failure] = [entry for entry in logs if entry["event"] == "event_callback_failed"]
    assert failure["error"] == "timeout" and failure["event_sid"] == slow.sid


async def test_full_queue_drops_the_newest_and_logs(receiver, make_dispatcher):
    dispatcher = await make_dispatcher(max_queue=3)
    ws = workspace(receiver.url())
    receiver.script = ["hang"]
    first = event(ws, n=0)
    dispatcher.submit(ws, first)
    assert (await receiver.next()).sid == first.sid  # the worker is now busy, the queue empty

    queued = [event(ws, n=n) for n in range(1, 6)]
    with structlog.testing.capture_logs() as logs:
        for ev in queued:
            dispatcher.submit(ws, ev)
    assert dispatcher.stats.overflowed == 2
    warnings = [entry for entry in logs if entry["event"] == "event_callback_queue_full"]
    assert [entry["event_sid"] for entry in warnings] == [queued[3].sid, queued[4].sid]

    receiver.release.set()
    await idle(dispatcher)
    assert [got.sid for got in receiver.drain()] == [ev.sid for ev in queued[:3]]
    assert dispatcher.stats.delivered == 4


async def test_lifecycle_errors(receiver):
    dispatcher = CallbackDispatcher(TOKEN, CallbackFaults())
    ws = workspace(receiver.url())
    with pytest.raises(RuntimeError, match="before start"):
        dispatcher.submit(ws, event(ws))
    await dispatcher.start()
    await dispatcher.close()
    dispatcher.submit(ws, event(ws))  # after close: ignored, never raises during shutdown
    await idle(dispatcher)
    assert dispatcher.stats.skipped == 1 and receiver.inbox.empty()
    for kwargs in ({"timeout": 0}, {"max_queue": 0}):
        with pytest.raises(ValueError):
            CallbackDispatcher(TOKEN, CallbackFaults(), **kwargs)
    with pytest.raises(ValueError, match="auth_token"):
        CallbackDispatcher("", CallbackFaults())


# --- callback faults, observed at the receiver ------------------------------------------------------------


async def test_drop_next_n(receiver, make_dispatcher):
    faults = CallbackFaults()
    rule = faults.add(mode="drop", count=2)
    dispatcher = await make_dispatcher(faults)
    ws = workspace(receiver.url())
    events = [event(ws, n=n) for n in range(4)]
    for ev in events:
        dispatcher.submit(ws, ev)
    await idle(dispatcher)
    assert [got.sid for got in receiver.drain()] == [ev.sid for ev in events[2:]]
    assert dispatcher.stats.dropped == 2 and (rule.seen, rule.injected, rule.trigger.remaining) == (4, 2, 0)


async def test_drop_fraction_is_reproducible_from_the_seed(receiver, make_dispatcher):
    faults = CallbackFaults()
    faults.add(mode="drop", fraction=0.4, seed=7)
    dispatcher = await make_dispatcher(faults)
    ws = workspace(receiver.url())
    events = [event(ws, n=n) for n in range(40)]
    for ev in events:
        dispatcher.submit(ws, ev)
    await idle(dispatcher)
    draws = random.Random(7)  # documented: one draw per callback, dropped when < fraction
    expected = [ev.sid for ev in events if draws.random() >= 0.4]
    assert [got.sid for got in receiver.drain()] == expected
    assert 0 < dispatcher.stats.dropped == 40 - len(expected) < 40


async def test_drop_only_listed_event_types(receiver, make_dispatcher):
    faults = CallbackFaults()
    faults.add(mode="drop", event_types=["worker.created"])
    dispatcher = await make_dispatcher(faults)
    ws = workspace(receiver.url())
    kept = event(ws, "worker.activity.update")
    dispatcher.submit(ws, event(ws, "worker.created"))
    dispatcher.submit(ws, kept)
    dispatcher.submit(ws, event(ws, "worker.created"))
    await idle(dispatcher)
    assert [got.sid for got in receiver.drain()] == [kept.sid]


async def test_duplicate_sends_twice_in_a_row(receiver, make_dispatcher):
    faults = CallbackFaults()
    faults.add(mode="duplicate", count=1)
    dispatcher = await make_dispatcher(faults)
    ws = workspace(receiver.url())
    a, b = event(ws, n=1), event(ws, n=2)
    dispatcher.submit(ws, a)
    dispatcher.submit(ws, b)
    await idle(dispatcher)
    got = receiver.drain()
    assert [g.sid for g in got] == [a.sid, a.sid, b.sid]
    assert got[0].body == got[1].body and all(verify(g) for g in got)
    assert (dispatcher.stats.duplicated, dispatcher.stats.delivered) == (1, 3)


async def test_reorder_swaps_pairs(receiver, make_dispatcher):
    faults = CallbackFaults()
    faults.add(mode="reorder", count=2)
    dispatcher = await make_dispatcher(faults)
    ws = workspace(receiver.url())
    a, b, c, d, e = (event(ws, n=n) for n in range(5))
    for ev in (a, b, c, d, e):
        dispatcher.submit(ws, ev)
    await idle(dispatcher)
    assert [got.sid for got in receiver.drain()] == [b.sid, a.sid, d.sid, c.sid, e.sid]
    assert dispatcher.stats.reordered == 2 and dispatcher.stats.delivered == 5


async def test_reorder_flushes_a_held_callback_when_nothing_follows(receiver, make_dispatcher):
    faults = CallbackFaults()
    rule = faults.add(mode="reorder", count=1)
    dispatcher = await make_dispatcher(faults)
    ws = workspace(receiver.url())
    only = event(ws)
    dispatcher.submit(ws, only)
    await idle(dispatcher)
    assert [got.sid for got in receiver.drain()] == [only.sid]
    assert rule.injected == 1 and dispatcher.stats.reordered == 1


async def test_reorder_hold_ms_waits_for_a_later_callback(receiver, make_dispatcher):
    faults = CallbackFaults()
    faults.add(mode="reorder", count=1, hold_ms=60_000)
    dispatcher = await make_dispatcher(faults)
    ws = workspace(receiver.url())
    a, b = event(ws, n=1), event(ws, n=2)
    dispatcher.submit(ws, a)
    # Held for up to a minute: certainly still held a moment later.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(dispatcher.wait_idle(), 0.3)
    assert receiver.inbox.empty() and dispatcher.pending == 1
    dispatcher.submit(ws, b)  # submitted in a later turn of the loop, yet it still overtakes a
    await idle(dispatcher)
    assert [got.sid for got in receiver.drain()] == [b.sid, a.sid]


async def test_delay_holds_the_callback_and_everything_behind_it(receiver, make_dispatcher):
    gate = GatedSleep()
    injector = FaultInjector(sleep=gate)
    injector.callbacks.add(mode="delay", delay_ms=250, count=1)
    dispatcher = await make_dispatcher(injector.callbacks)
    ws = workspace(receiver.url())
    a, b = event(ws, n=1), event(ws, n=2)
    dispatcher.submit(ws, a)
    dispatcher.submit(ws, b)
    await asyncio.wait_for(gate.entered.wait(), WAIT)
    assert gate.requested == [0.25]
    assert receiver.inbox.empty() and dispatcher.pending == 2  # nothing sent while the delay runs

    gate.release.set()
    await idle(dispatcher)
    assert [got.sid for got in receiver.drain()] == [a.sid, b.sid]
    assert dispatcher.stats.delayed == 1 and gate.requested == [0.25]


async def test_real_delay_still_delivers(receiver, make_dispatcher):
    faults = CallbackFaults()  # the default sleep: asyncio.sleep
    faults.add(mode="delay", delay_ms=1)
    dispatcher = await make_dispatcher(faults)
    ws = workspace(receiver.url())
    ev = event(ws)
    dispatcher.submit(ws, ev)
    await idle(dispatcher)
    assert [got.sid for got in receiver.drain()] == [ev.sid] and dispatcher.stats.delayed == 1
