"""Events: REST JSON and webhook callbacks to one Event, malformed callbacks, and the exact REST requests of
GetEvent / ListEvents / ListCallEvents checked against Twilio's OpenAPI specs."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from google.protobuf import json_format, timestamp_pb2

from taskrouter.gateway.v1 import call_event_service_pb2 as ce, event_pb2, event_service_pb2 as es
from taskrouter_emulator import defaults, event_log
from taskrouter_emulator.callbacks import callback_form
from taskrouter_emulator.model import Activity, Event as EmulatorEvent, Worker, Workspace
from taskrouter_gateway.translate import call_events, event_requests
from taskrouter_gateway.translate.events import MalformedCallback, event_from_callback, event_from_rest
from taskrouter_gateway.upstream.forms import encode_params, urlencode_pairs
from taskrouter_gateway.upstream.paging import decode_page_token, encode_page_token
from taskrouter_gateway.validation import InvalidArgument

ROOT = Path(__file__).resolve().parents[3]
OPENAPI = ROOT / "tests/fixtures/openapi"
TASKROUTER_SPEC = json.loads((OPENAPI / "twilio_taskrouter_v1.json").read_text())
CALL_EVENTS_SPEC = json.loads((OPENAPI / "twilio_api_v2010_call_events.json").read_text())
TWILIO = "https://taskrouter.twilio.com"
WAIT = 10  # seconds: an upper bound for conditions, never a pause

AC = "AC" + "a" * 32
WS = "WS" + "1" * 32
WK = "WK" + "2" * 32
WT = "WT" + "3" * 32
WR = "WR" + "4" * 32
WQ = "WQ" + "5" * 32
WW = "WW" + "6" * 32
EV = "EV" + "7" * 32
CA = "CA" + "8" * 32
SUB_MESSAGES = ("task", "worker", "task_channel", "task_queue", "workflow", "reservation", "workspace", "activity")


# The "Output" examples of the TaskRouter Event Resource page (docs/taskrouter/api/event), as data.
_EXAMPLES = json.loads((ROOT / "tests/fixtures/docs/taskrouter_docs.json").read_text())["event_examples"]
SEED_000_EVENT, SEED_000_LIST = _EXAMPLES["fetch"], _EXAMPLES["list"]


def camel(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


def callback_for(rest: dict) -> dict[str, str]:
    """The form Twilio posts for an event, from its REST JSON (the inverse of the documented mapping)."""
    form = {camel(k): v for k, v in rest["event_data"].items()}
    form.update(
        EventType=rest["event_type"], AccountSid=rest["account_sid"], WorkspaceSid=rest["workspace_sid"],
        EventDescription=rest["description"], ResourceType=rest["resource_type"].capitalize(),
        ResourceSid=rest["resource_sid"], Timestamp=str(rest["event_date_ms"] // 1000),
        TimestampMs=str(rest["event_date_ms"]), Sid=rest["sid"],
    )
    return form


def base_params(**overrides: str) -> dict[str, str]:
    params = {
        "EventType": "worker.activity.update", "AccountSid": AC, "WorkspaceSid": WS, "WorkspaceName": "Support",
        "EventDescription": "Worker Al updated to Idle Activity", "ResourceType": "Worker", "ResourceSid": WK,
        "Timestamp": "1700000000", "TimestampMs": "1700000000123", "Sid": EV, "WorkerSid": WK, "WorkerName": "Al",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def typed(event: event_pb2.Event) -> dict[str, object]:
    return {sub: getattr(event, sub) for sub in SUB_MESSAGES if event.HasField(sub)}


# --- REST -> Event ------------------------------------------------------------------------------------


def test_rest_event_from_seed_000_example():
    event = event_from_rest(SEED_000_EVENT)
    assert event.sid == "EV" + "a" * 32
    assert event.account_sid == "AC" + "a" * 32 and event.workspace_sid == "WS" + "a" * 32
    assert (event.actor_sid, event.actor_type) == ("WS" + "a" * 32, "workspace")
    assert event.actor_url == f"{TWILIO}/v1/Workspaces/WS{'a' * 32}"
    assert event.description == "Worker JustinWorker updated to Idle Activity"
    assert event.event_type == "worker.activity"
    assert (event.resource_type, event.resource_sid) == ("worker", "WK" + "a" * 32)
    assert event.resource_url == SEED_000_EVENT["resource_url"]
    assert event.url == SEED_000_EVENT["url"]
    assert (event.source, event.source_ip_address) == ("twilio", "1.2.3.4")
    # Both dates as Twilio sent them (the seed's sample values disagree with each other; neither is "fixed").
    assert event.event_date.ToJsonString() == "2015-02-07T00:32:41Z"
    assert event.event_date_ms == 987654321111
    assert json_format.MessageToDict(event.event_data) == SEED_000_EVENT["event_data"]
    assert event.event_data_json == json.dumps(SEED_000_EVENT["event_data"], separators=(",", ":"))
    assert len(event.raw_parameters) == 0
    worker = event.worker
    assert worker.worker_sid == "WK" + "a" * 32 and worker.worker_name == "JustinWorker"
    assert worker.worker_activity_sid == "WA" + "a" * 32 and worker.worker_activity_name == "Offline"
    assert worker.worker_attributes == "{}" and worker.HasField("worker_attributes_struct")
    assert worker.worker_time_in_previous_activity == 26
    assert worker.worker_time_in_previous_activity_ms == 26123
    assert event.workspace.workspace_sid == "WS" + "a" * 32 and event.workspace.workspace_name == "WorkspaceName"
    assert set(typed(event)) == {"worker", "workspace"}


def test_webhook_and_rest_give_the_same_event_for_seed_000():
    from_rest = event_from_rest(SEED_000_EVENT)
    from_callback = event_from_callback(callback_for(SEED_000_EVENT), received_ms=1)
    assert typed(from_callback) == typed(from_rest)
    for name in ("sid", "account_sid", "workspace_sid", "event_type", "resource_type", "resource_sid",
                 "description", "event_date_ms", "url", "resource_url", "event_data"):
        assert getattr(from_callback, name) == getattr(from_rest, name), name


def test_rest_numbers_and_booleans_give_the_same_typed_data_as_callback_strings():
    strings = {"worker_sid": WK, "worker_time_in_previous_activity_ms": "26123", "worker_channel_available": "true",
               "worker_version": "4", "task_sid": WT, "task_age": "37", "task_attributes": '{"a":1}'}
    natives = {**strings, "worker_time_in_previous_activity_ms": 26123, "worker_channel_available": True,
               "worker_version": 4, "task_age": 37, "task_attributes": {"a": 1}}
    a = event_from_rest({"sid": EV, "workspace_sid": WS, "event_type": "x.y", "event_data": strings})
    b = event_from_rest({"sid": EV, "workspace_sid": WS, "event_type": "x.y", "event_data": natives})
    assert typed(a) == typed(b)
    assert b.worker.worker_time_in_previous_activity_ms == 26123 and b.worker.worker_channel_available is True
    assert b.task.task_attributes == '{"a":1}' and b.task.task_attributes_struct["a"] == 1
    # event_data_json keeps the numbers exactly as Twilio sent them.
    assert json.loads(b.event_data_json)["worker_time_in_previous_activity_ms"] == 26123


def test_rest_null_values_are_not_carried():
    event = event_from_rest({"sid": EV, "workspace_sid": WS, "event_data": {"task_sid": None, "worker_sid": WK}})
    assert not event.HasField("task")
    assert event.worker.worker_sid == WK
    assert event.workspace.workspace_sid == WS  # from the event itself: every event has a workspace


def test_rest_event_without_event_data_or_dates():
    event = event_from_rest({"sid": EV, "workspace_sid": WS, "event_data": None, "actor_url": None})
    assert not event.HasField("event_data") and event.event_data_json == ""
    assert not event.HasField("event_date") and event.event_date_ms == 0
    assert event.actor_url == ""


def test_rest_date_derived_from_whichever_is_present():
    only_ms = event_from_rest({"sid": EV, "event_date_ms": 1700000000123})
    assert only_ms.event_date.ToMilliseconds() == 1700000000123
    only_iso = event_from_rest({"sid": EV, "event_date": "2023-11-14T22:13:20Z"})
    assert only_iso.event_date_ms == 1700000000000
    # Same second: event_date takes the milliseconds, as a callback's does; the Event Resource page test covers disagreement.
    both = event_from_rest({"sid": EV, "event_date": "2023-11-14T22:13:20Z", "event_date_ms": 1700000000123})
    assert both.event_date.ToMilliseconds() == both.event_date_ms == 1700000000123
    garbled = event_from_rest({"sid": EV, "event_date": "last tuesday", "event_date_ms": "soon"})
    assert not garbled.HasField("event_date") and garbled.event_date_ms == 0


def test_list_events_response_from_seed_000():
    response = event_requests.list_events_response(SEED_000_LIST)
    assert [e.sid for e in response.events] == ["EV" + "a" * 32]
    assert response.events[0] == event_from_rest(SEED_000_LIST["events"][0])
    assert response.next_page_token == ""  # next_page_url is null


def test_list_events_response_wraps_the_next_page_url():
    next_url = f"{TWILIO}/v1/Workspaces/{WS}/Events?PageSize=50&Page=1&PageToken=PAabc"
    body = {"events": [], "meta": {"next_page_url": next_url}}
    token = event_requests.list_events_response(body).next_page_token
    assert decode_page_token(token, f"/v1/Workspaces/{WS}/Events") == f"/v1/Workspaces/{WS}/Events?PageSize=50&Page=1&PageToken=PAabc"


# --- callbacks: decisions -----------------------------------------------------------------------------


def test_unknown_event_type_passes_through():
    params = base_params(EventType="worker.mood.update", ResourceType="Mood", ResourceSid="MO" + "9" * 32,
                         WorkerMood="cheerful", BrandNewThing="42")
    event = event_from_callback(params, received_ms=1)
    assert event.event_type == "worker.mood.update"
    assert dict(event.raw_parameters) == params
    data = json_format.MessageToDict(event.event_data)
    assert data["worker_mood"] == "cheerful" and data["brand_new_thing"] == "42"
    assert event.worker.worker_sid == WK  # known names are still typed
    assert set(typed(event)) == {"worker", "workspace"}
    assert event.resource_type == "mood" and event.resource_url == ""  # no URL we could be sure of
    assert event.url == f"{TWILIO}/v1/Workspaces/{WS}/Events/{EV}"


def test_callback_as_a_list_of_pairs_with_repeats_keeps_the_last_value():
    pairs = [*base_params().items(), ("WorkerName", "Bo"), ("Sid", EV)]  # an identical repeat of Sid is harmless
    event = event_from_callback(pairs, received_ms=1)
    assert event.worker.worker_name == "Bo"
    assert event.raw_parameters["WorkerName"] == "Bo"
    assert json_format.MessageToDict(event.event_data)["worker_name"] == "Bo"


def test_values_that_do_not_parse_are_left_unset_but_kept():
    params = base_params(TaskSid=WT, TaskAge="old", TaskPriority="9999999999999999999999", WorkerChannelAvailable="yes",
                         WorkerTimeInPreviousActivityMs=" 42 ", TaskAttributes="not json")
    event = event_from_callback(params, received_ms=1)
    assert not event.task.HasField("task_age") and not event.task.HasField("task_priority")
    assert event.task.task_sid == WT and event.task.task_attributes == "not json"
    assert not event.task.HasField("task_attributes_struct")
    assert not event.worker.HasField("worker_channel_available")
    assert event.worker.worker_time_in_previous_activity_ms == 42  # surrounding blanks are forgiven
    assert event.raw_parameters["TaskAge"] == "old"
    assert json_format.MessageToDict(event.event_data)["worker_channel_available"] == "yes"


def test_present_but_empty_fields_still_mark_their_sub_message():
    event = event_from_callback(base_params(TaskCanceledReason=""), received_ms=1)
    assert event.HasField("task") and event.task.task_canceled_reason == ""


def test_time_prefers_timestamp_ms_then_timestamp_then_receipt():
    assert event_from_callback(base_params(), received_ms=5).event_date_ms == 1700000000123
    seconds_only = event_from_callback(base_params(TimestampMs=None, Timestamp="1700000001.5"), received_ms=5)
    assert seconds_only.event_date_ms == 1700000001500
    assert seconds_only.event_date.ToMilliseconds() == 1700000001500
    empty_ms = event_from_callback(base_params(TimestampMs="", Timestamp="1700000002"), received_ms=5)
    assert empty_ms.event_date_ms == 1700000002000
    neither = event_from_callback(base_params(TimestampMs=None, Timestamp=None), received_ms=1700000003456)
    assert neither.event_date_ms == 1700000003456
    assert neither.event_date.seconds == 1700000003 and neither.event_date.nanos == 456_000_000


def test_reservation_resource_url_needs_the_task():
    with_task = event_from_callback(base_params(ResourceType="Reservation", ResourceSid=WR, TaskSid=WT), received_ms=1)
    assert with_task.resource_url == f"{TWILIO}/v1/Workspaces/{WS}/Tasks/{WT}/Reservations/{WR}"
    without = event_from_callback(base_params(ResourceType="Reservation", ResourceSid=WR), received_ms=1)
    assert without.resource_url == ""
    mismatched = event_from_callback(base_params(ResourceType="Worker", ResourceSid=WT), received_ms=1)
    assert mismatched.resource_url == ""  # a Worker with a Task's sid: not a URL to vouch for


def test_callback_urls_can_follow_another_base():
    event = event_from_callback(base_params(), received_ms=1, base_url="http://127.0.0.1:8181")
    assert event.url == f"http://127.0.0.1:8181/v1/Workspaces/{WS}/Events/{EV}"
    assert event.resource_url == f"http://127.0.0.1:8181/v1/Workspaces/{WS}/Workers/{WK}"


MALFORMED = [
    ("missing EventType", base_params(EventType=None), "EventType", "missing EventType"),
    ("empty EventType", base_params(EventType="  "), "EventType", "missing EventType"),
    ("EventType with spaces", base_params(EventType="worker created"), "EventType", "not an event type"),
    ("missing Sid", base_params(Sid=None), "Sid", "missing Sid"),
    ("empty Sid", base_params(Sid=""), "Sid", "missing Sid"),
    ("Sid of another type", base_params(Sid=WK), "Sid", "not an Event sid"),
    ("Sid too short", base_params(Sid="EV123"), "Sid", "not an Event sid"),
    ("Sid not hex", base_params(Sid="EV" + "z" * 32), "Sid", "not an Event sid"),
    ("missing WorkspaceSid", base_params(WorkspaceSid=None), "WorkspaceSid", "missing WorkspaceSid"),
    ("WorkspaceSid of another type", base_params(WorkspaceSid=WK), "WorkspaceSid", "not a Workspace sid"),
    ("lower-case WorkspaceSid prefix", base_params(WorkspaceSid="ws" + "1" * 32), "WorkspaceSid", "not a Workspace sid"),
    ("AccountSid of another type", base_params(AccountSid=WS), "AccountSid", "not an Account sid"),
    ("TimestampMs not a number", base_params(TimestampMs="abc"), "TimestampMs", "not a time in milliseconds"),
    ("TimestampMs negative", base_params(TimestampMs="-5"), "TimestampMs", "not a time in milliseconds"),
    ("TimestampMs in exponent form", base_params(TimestampMs="1.7e12"), "TimestampMs", "not a time in milliseconds"),
    ("TimestampMs past year 9999", base_params(TimestampMs="253402300800000"), "TimestampMs", "not a time"),
    ("Timestamp not a number", base_params(TimestampMs=None, Timestamp="yesterday"), "Timestamp", "not a time in seconds"),
    ("Timestamp bad beside a good TimestampMs", base_params(Timestamp="-1"), "Timestamp", "not a time in seconds"),
    ("Timestamp past year 9999", base_params(TimestampMs=None, Timestamp="999999999999"), "Timestamp", "not a time"),
    ("TimestampMs of 5000 digits", base_params(TimestampMs="7" * 5000), "TimestampMs", "not a time in milliseconds"),
    ("Timestamp of 5000 digits", base_params(Timestamp="7" * 5000), "Timestamp", "not a time in seconds"),
    ("lone surrogate in a value", base_params(WorkerName="Al\ud800"), "WorkerName", "not valid Unicode"),
]


@pytest.mark.parametrize("params,parameter,reason", [case[1:] for case in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_callback_is_rejected_with_its_reason(params, parameter, reason):
    with pytest.raises(MalformedCallback) as caught:
        event_from_callback(params, received_ms=1)
    assert caught.value.parameter == parameter
    assert reason in caught.value.reason and reason in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("name,other", [("Sid", "EV" + "e" * 32), ("EventType", "worker.deleted"),
                                         ("WorkspaceSid", "WS" + "e" * 32), ("TimestampMs", "1700000000999")])
def test_identity_field_repeated_with_another_value_is_rejected(name, other):
    pairs = [*base_params().items(), (name, other)]
    with pytest.raises(MalformedCallback, match=f"{name} is repeated with different values") as caught:
        event_from_callback(pairs, received_ms=1)
    assert caught.value.parameter == name


@pytest.mark.parametrize("pairs,message", [
    ([("Sid", EV), ("EventType",)], "must be (name, value) pairs"),
    ([("", "x")], "names must be non-empty text"),
    ([(b"Sid", EV)], "names must be non-empty text"),
])
def test_form_that_is_not_name_value_text_pairs_is_rejected(pairs, message):
    with pytest.raises(MalformedCallback, match=re.escape(message)):
        event_from_callback(pairs, received_ms=1)


def test_error_messages_quote_only_the_start_of_a_long_value():
    with pytest.raises(MalformedCallback) as caught:
        event_from_callback(base_params(Sid="EV" + "x" * 10_000), received_ms=1)
    assert caught.value.reason.startswith("Sid 'EVxxx") and len(caught.value.reason) < 150


def test_non_text_value_is_rejected_naming_the_field():
    with pytest.raises(MalformedCallback, match="form field 'TaskAge' is not text") as caught:
        event_from_callback({**base_params(), "TaskAge": 5}, received_ms=1)
    assert caught.value.parameter == "TaskAge"


# --- any input: an Event or MalformedCallback, never another exception --------------------------------

_KNOWN_NAMES = [*base_params(), "TaskAge", "TaskPriority", "TaskAttributes", "WorkerChannelAvailable",
                "WorkerTimeInPreviousActivityMs", "TaskChannelOptimizedRouting", "ActivityAvailable", "OperatingUnitSid"]
_FORM_VALUES = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"[+-]?[0-9]{1,40}(\.[0-9]{0,5})?", fullmatch=True),
    st.sampled_from(["true", "FALSE", "", " ", "{}", "[1]", '{"a": 1e999}', "9" * 5000, EV, WS, AC, WK]),
)
_FORMS = st.dictionaries(st.one_of(st.sampled_from(_KNOWN_NAMES), st.text(min_size=1, max_size=20)), _FORM_VALUES,
                         max_size=12)


@settings(max_examples=300, deadline=None, database=None)
@given(_FORMS, st.booleans())
def test_any_form_gives_an_event_or_malformed_callback(overrides, on_top_of_valid):
    params = {**base_params(), **overrides} if on_top_of_valid else overrides
    try:
        event = event_from_callback(params, received_ms=1_700_000_000_000)
    except MalformedCallback as exc:
        assert exc.reason
        return
    assert dict(event.raw_parameters) == params
    assert event.sid == params["Sid"] and event.workspace_sid == params["WorkspaceSid"]
    assert json.loads(event.event_data_json or "{}") == json_format.MessageToDict(event.event_data)


_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.floats(allow_nan=False, allow_infinity=False),
              st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=6,
)
_REST_KEYS = ["sid", "account_sid", "workspace_sid", "event_type", "resource_type", "event_date", "event_date_ms",
              "event_data", "url", "actor_url"]
_DATA_KEYS = ["task_age", "task_attributes", "worker_channel_available", "worker_sid", "operating_unit_sid",
              "workspace_name", "task_channel_optimized_routing"]


@settings(max_examples=150, deadline=None, database=None)
@given(st.dictionaries(st.sampled_from(_REST_KEYS), _JSON, max_size=6),
       st.dictionaries(st.one_of(st.sampled_from(_DATA_KEYS), st.text(max_size=10)), _JSON, max_size=6))
def test_any_rest_json_gives_an_event(data, event_data):
    event = event_from_rest({**data, "event_data": event_data})
    assert json.loads(event.event_data_json) == json.loads(json.dumps(event_data))
    call_events.call_event_from_json({"request": data, "response": {**data, **event_data}})


# --- what the emulator sends ---------------------------------------------------------------------------


def _emulator_events() -> list[tuple[Workspace, EmulatorEvent]]:
    ws = Workspace(sid=WS, account_sid=AC, friendly_name="Support")
    idle = Activity(sid="WA" + "1" * 32, account_sid=AC, workspace_sid=WS, friendly_name="Idle", available=True)
    worker = Worker(sid=WK, account_sid=AC, workspace_sid=WS, friendly_name="Al", activity_sid=idle.sid,
                    attributes='{"skills": ["en"], "level": 3}', version=4)

    def ev(event_type, resource_type, resource_sid, data, n):
        return EmulatorEvent(sid="EV" + f"{n:032x}", account_sid=AC, workspace_sid=WS, event_type=event_type,
                             resource_type=resource_type, resource_sid=resource_sid, description=f"{event_type} #{n}",
                             event_data=data, event_date_ms=1_700_000_000_000 + n, actor_sid=WS)

    return [
        (ws, ev("worker.activity.update", "worker", WK,
                event_log.worker_activity_data(worker, idle, "WA" + "2" * 32, 26123), 1)),
        (ws, ev("worker.created", "worker", WK, event_log.worker_data(worker, idle), 2)),
        (ws, ev("activity.created", "activity", idle.sid, event_log.activity_data(idle), 3)),
        (ws, ev("workspace.updated", "workspace", WS, event_log.workspace_data(ws), 4)),
    ]


@pytest.mark.parametrize("ws,emulated", _emulator_events(), ids=lambda v: getattr(v, "event_type", ""))
def test_emulator_callback_form_normalises_cleanly(ws, emulated):
    form = callback_form(ws, emulated)
    event = event_from_callback(form, received_ms=1)
    assert (event.sid, event.event_type, event.resource_sid) == (emulated.sid, emulated.event_type, emulated.resource_sid)
    assert event.resource_type == emulated.resource_type
    assert event.event_date_ms == emulated.event_date_ms
    assert event.workspace.workspace_name == "Support"
    data = json_format.MessageToDict(event.event_data)
    assert {k: data[k] for k in emulated.event_data} == emulated.event_data
    if emulated.event_type == "worker.activity.update":
        assert event.worker.worker_time_in_previous_activity_ms == 26123
        assert event.worker.worker_time_in_previous_activity == 26
        assert event.worker.worker_previous_activity_sid == "WA" + "2" * 32
        assert event.worker.worker_version == "4" and event.worker.operating_unit_sid == event_log.OPERATING_UNIT_SID
    if emulated.event_type == "activity.created":
        assert event.activity.activity_available is True and event.activity.activity_name == "Idle"


class Receiver:
    """A real webhook endpoint: records each POST's form fields, in order, as sent."""

    def __init__(self) -> None:
        self.forms: list[list[tuple[str, str]]] = []
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.forms.append([(k, v) for k, v in (await request.post()).items()])
        return web.Response(status=204)


@pytest.fixture
async def receiver():
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/events", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.port = runner.addresses[0][1]
    yield rec
    await runner.cleanup()


async def _ok(response) -> dict:
    async with response as resp:
        body = await resp.json()
        assert resp.status in (200, 201), body
        return body


async def test_emulator_callbacks_and_its_events_api_agree(emulator, emulator_http, receiver):
    ws = defaults.DEFAULT_WORKSPACE_SID
    await _ok(emulator_http.post(f"/v1/Workspaces/{ws}",
                                 data={"EventCallbackUrl": f"http://127.0.0.1:{receiver.port}/events"}))
    act = await _ok(emulator_http.post(f"/v1/Workspaces/{ws}/Activities", data={"FriendlyName": "Break", "Available": "false"}))
    worker = await _ok(emulator_http.post(f"/v1/Workspaces/{ws}/Workers",
                                          data={"FriendlyName": "Alice", "Attributes": '{"skills": ["en"]}'}))
    await _ok(emulator_http.post(f"/v1/Workspaces/{ws}/Workers/{worker['sid']}", data={"ActivitySid": act["sid"]}))
    await _ok(emulator_http.post(f"/v1/Workspaces/{ws}/Workers/{worker['sid']}", data={"Attributes": '{"level": 2}'}))
    async with emulator_http.delete(f"/v1/Workspaces/{ws}/Workers/{worker['sid']}") as resp:
        assert resp.status == 204
    await asyncio.wait_for(emulator.context.dispatcher.wait_idle(), WAIT)

    seen = set()
    for form in receiver.forms:
        from_callback = event_from_callback(form, received_ms=int(time.time() * 1000), base_url=emulator.base_url)
        from_rest = event_from_rest(await _ok(emulator_http.get(f"/v1/Workspaces/{ws}/Events/{from_callback.sid}")))
        seen.add(from_callback.event_type)
        for name in ("sid", "account_sid", "workspace_sid", "event_type", "resource_type", "resource_sid",
                     "description", "event_date_ms", "event_date", "url", "resource_url"):
            assert getattr(from_callback, name) == getattr(from_rest, name), (from_callback.event_type, name)
        for sub in SUB_MESSAGES:
            if sub == "workspace":  # the emulator's REST event_data names the workspace on workspace events only
                assert from_callback.workspace.workspace_sid == from_rest.workspace.workspace_sid == ws
                continue
            assert getattr(from_callback, sub) == getattr(from_rest, sub), (from_callback.event_type, sub)
        rest_data = json_format.MessageToDict(from_rest.event_data)
        callback_data = json_format.MessageToDict(from_callback.event_data)
        assert {k: callback_data[k] for k in rest_data} == rest_data
    assert {"activity.created", "worker.created", "worker.activity.update", "worker.attributes.update",
            "worker.deleted"} <= seen
    activity_update = next(event_from_callback(f, received_ms=1) for f in receiver.forms
                           if dict(f)["EventType"] == "worker.activity.update")
    assert activity_update.worker.worker_activity_name == "Break"
    assert activity_update.worker.HasField("worker_time_in_previous_activity_ms")


# --- exact REST requests ------------------------------------------------------------------------------


def _spec_operation(spec: dict, path: str, method: str) -> dict:
    for template, item in spec["paths"].items():
        if re.fullmatch(re.sub(r"\{[^}]+\}", r"[^/]+", template), path) and method.lower() in item:
            return item[method.lower()]
    raise AssertionError(f"no spec operation for {method} {path}")


def _assert_query_names_in_spec(spec: dict, call) -> None:
    op = _spec_operation(spec, call.path.partition("?")[0], call.method)
    names = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
    assert set(call.query) <= names, set(call.query) - names
    assert call.form == {} and call.headers == {}


def _ts(text: str) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromJsonString(text)
    return stamp


def test_get_event_request():
    call = event_requests.get_event_call(es.GetEventRequest(workspace_sid=WS, sid=EV))
    assert (call.method, call.path, call.query, call.base) == ("GET", f"/v1/Workspaces/{WS}/Events/{EV}", {}, "taskrouter")
    _assert_query_names_in_spec(TASKROUTER_SPEC, call)


def test_list_events_request_carries_every_filter():
    call = event_requests.list_events_call(es.ListEventsRequest(
        workspace_sid=WS, page_size=20, end_date=_ts("2024-03-02T10:00:00Z"), event_type="reservation.created",
        minutes=30, reservation_sid=WR, start_date=_ts("2024-03-01T09:30:15Z"), task_queue_sid=WQ, task_sid=WT,
        worker_sid=WK, workflow_sid=WW, task_channel="voice", sid=EV,
    ))
    assert (call.method, call.path, call.base) == ("GET", f"/v1/Workspaces/{WS}/Events", "taskrouter")
    assert call.query == {
        "EndDate": "2024-03-02T10:00:00Z", "EventType": "reservation.created", "Minutes": 30, "ReservationSid": WR,
        "StartDate": "2024-03-01T09:30:15Z", "TaskQueueSid": WQ, "TaskSid": WT, "WorkerSid": WK, "WorkflowSid": WW,
        "TaskChannel": "voice", "Sid": EV, "PageSize": 20,
    }
    _assert_query_names_in_spec(TASKROUTER_SPEC, call)


def test_list_events_request_with_no_filters_and_minutes_zero_when_set():
    call = event_requests.list_events_call(es.ListEventsRequest(workspace_sid=WS))
    assert call.query == {"PageSize": 50}
    assert event_requests.list_events_call(es.ListEventsRequest(workspace_sid=WS, minutes=0)).query == {"Minutes": 0, "PageSize": 50}


def test_list_events_query_encodes_like_the_seed_000_urls():
    """The filters of the Event Resource page's example meta.url, encoded by us, give the same query Twilio shows."""
    seed_url = SEED_000_LIST["meta"]["url"]
    seed_query = parse_qs(urlsplit(seed_url).query)
    call = event_requests.list_events_call(es.ListEventsRequest(
        workspace_sid="WS" + "a" * 32, page_size=50, task_queue_sid=seed_query["TaskQueueSid"][0],
        start_date=_ts("2008-01-02T00:00:00Z"), end_date=_ts("2008-01-03T00:00:00Z"),
        worker_sid=seed_query["WorkerSid"][0], event_type="reservation.created", task_sid=seed_query["TaskSid"][0],
        workflow_sid=seed_query["WorkflowSid"][0], reservation_sid=seed_query["ReservationSid"][0],
    ))
    assert call.path == urlsplit(seed_url).path
    ours = parse_qs(urlencode_pairs(encode_params(call.query)))
    assert ours == {k: v for k, v in seed_query.items() if k != "Page"}
    assert "StartDate=2008-01-02T00%3A00%3A00Z" in urlencode_pairs(encode_params(call.query))


def test_list_events_dates_widen_to_whole_seconds():
    start = _ts("2024-03-01T09:30:15.750Z")
    end = _ts("2024-03-01T09:45:00.001Z")
    call = event_requests.list_events_call(es.ListEventsRequest(workspace_sid=WS, start_date=start, end_date=end))
    assert (call.query["StartDate"], call.query["EndDate"]) == ("2024-03-01T09:30:15Z", "2024-03-01T09:45:01Z")
    early = event_requests.list_events_call(es.ListEventsRequest(workspace_sid=WS, start_date=_ts("0001-01-01T00:00:00Z")))
    assert early.query["StartDate"] == "0001-01-01T00:00:00Z"


def test_list_events_rejects_a_timestamp_out_of_range():
    with pytest.raises(InvalidArgument) as caught:
        event_requests.list_events_call(es.ListEventsRequest(workspace_sid=WS, end_date=timestamp_pb2.Timestamp(seconds=2**40)))
    assert caught.value.violations[0][0] == "end_date"


def test_list_events_page_token_replaces_the_filters():
    token = encode_page_token(f"{TWILIO}/v1/Workspaces/{WS}/Events?PageSize=2&Page=1&PageToken=PT1")
    call = event_requests.list_events_call(es.ListEventsRequest(workspace_sid=WS, page_token=token, event_type="ignored"))
    assert (call.path, call.query) == (f"/v1/Workspaces/{WS}/Events?PageSize=2&Page=1&PageToken=PT1", {})
    foreign = encode_page_token(f"{TWILIO}/v1/Workspaces/{WS}/Workers?PageSize=2")
    with pytest.raises(InvalidArgument, match="different list"):
        event_requests.list_events_call(es.ListEventsRequest(workspace_sid=WS, page_token=foreign))


def test_list_call_events_request():
    call = call_events.list_call_events_call(ce.ListCallEventsRequest(account_sid=AC, call_sid=CA, page_size=25),
                                             default_account_sid="AC" + "f" * 32)
    assert (call.method, call.path, call.query, call.base) == (
        "GET", f"/2010-04-01/Accounts/{AC}/Calls/{CA}/Events.json", {"PageSize": 25}, "api")
    _assert_query_names_in_spec(CALL_EVENTS_SPEC, call)
    default = call_events.list_call_events_call(ce.ListCallEventsRequest(call_sid=CA), default_account_sid="AC" + "f" * 32)
    assert (default.path, default.query) == (f"/2010-04-01/Accounts/AC{'f' * 32}/Calls/{CA}/Events.json", {"PageSize": 50})


def test_list_call_events_pages_by_next_page_uri():
    next_uri = f"/2010-04-01/Accounts/{AC}/Calls/{CA}/Events.json?PageSize=50&Page=1&PageToken=PAxyz"
    token = call_events.list_call_events_response({"events": [], "next_page_uri": next_uri}).next_page_token
    call = call_events.list_call_events_call(ce.ListCallEventsRequest(account_sid=AC, call_sid=CA, page_token=token),
                                             default_account_sid=AC)
    assert (call.path, call.query, call.base) == (next_uri, {}, "api")


def test_call_events_response_from_the_openapi_example():
    get = CALL_EVENTS_SPEC["paths"]["/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}/Events.json"]["get"]
    body = get["responses"]["200"]["content"]["application/json"]["examples"]["readFull"]["value"]
    response = call_events.list_call_events_response(body)
    assert response.next_page_token == ""
    [event] = response.events
    example = body["events"][0]
    assert (event.request.method, event.request.url) == ("POST", example["request"]["url"])
    assert dict(event.request.parameters) == example["request"]["parameters"]
    assert (event.response.response_code, event.response.request_duration) == (201, 50)
    assert event.response.content_type == "application/json"
    assert event.response.response_body == example["response"]["response_body"]
    assert event.response.date_created.ToJsonString() == "2020-08-11T17:44:08Z"


def test_call_event_keeps_non_string_parameters_as_json_and_tolerates_odd_values():
    event = call_events.call_event_from_json({
        "request": {"method": "POST", "url": None, "parameters": {"add_ons": {"status": "ok"}, "timeout": 55, "x": None}},
        "response": {"response_code": "200", "request_duration": 2**40, "date_created": "not a date", "content_type": None},
    })
    assert dict(event.request.parameters) == {"add_ons": '{"status":"ok"}', "timeout": "55", "x": "null"}
    assert event.request.url == ""
    assert event.response.response_code == 200
    assert event.response.request_duration == 0  # out of int32 range: not carried
    assert not event.response.HasField("date_created")
    assert call_events.call_event_from_json({}) == call_events.call_event_from_json({"request": None, "response": None})
