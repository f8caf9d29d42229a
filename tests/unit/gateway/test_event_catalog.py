"""Every event type of the TaskRouter Events Reference page, from its recorded callback fixture to an Event.

The page's event catalog (tests/fixtures/docs/taskrouter_docs.json, extracted by scripts/extract_doc_data.py)
gives the event types, their field lists and the field groups
("Task", "Worker", "Channel", "TaskChannel"), so an event type without a fixture, or a fixture missing a
field, fails. Where each field must land is decided by this file's own rules, not the translator's.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor

from taskrouter_emulator import event_types
from taskrouter_gateway.translate.events import event_from_callback, event_from_rest

ROOT = Path(__file__).resolve().parents[3]
# The TaskRouter "Events Reference" page (docs/taskrouter/api/event/reference), as data.
DOCS = ROOT / "tests/fixtures/docs/taskrouter_docs.json"
FIXTURES = ROOT / "tests/fixtures/callbacks"
TWILIO = "https://taskrouter.twilio.com"

# Sent on every callback (and read by the gateway) although the seed's common table does not list them.
UNLISTED_COMMON = ("Sid", "TimestampMs")
# Callback parameters that become Event properties rather than event_data entries.
ENVELOPE = {"EventType", "AccountSid", "EventDescription", "ResourceType", "ResourceSid", "Timestamp", "TimestampMs", "Sid"}
# The Events Reference page: "When an event comes in that relates to a Worker's activity changing, the following additional
# fields will be passed in" - the row for worker.activity.update lists only "Worker", so the link is made here.
EXTRA_GROUPS = {"worker.activity.update": ("activity change",)}
# Collection of each resource type under the Workspace URL, as Twilio's URLs show them.
COLLECTIONS = {"Activity": "Activities", "Task": "Tasks", "Worker": "Workers", "Workflow": "Workflows",
               "TaskQueue": "TaskQueues", "TaskChannel": "TaskChannels"}

_IDENTIFIER = re.compile(r"(?:[A-Z][a-z]+)+")


@cache
def seed_catalog() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """(event type -> field tokens of its row, group name -> parameters of its table), as extracted from the
    Events Reference page by scripts/extract_doc_data.py."""
    catalog = json.loads(DOCS.read_text())["event_catalog"]
    rows = {event_type: tuple(tokens) for event_type, tokens in catalog["rows"].items()}
    return rows, {name: tuple(params) for name, params in catalog["groups"].items()}


def expected_parameters(event_type: str) -> list[str]:
    rows, groups = seed_catalog()
    params = [*groups["common"], *UNLISTED_COMMON]
    for token in (*rows[event_type], *EXTRA_GROUPS.get(event_type, ())):
        params.extend(groups.get(token, (token,)))
    return list(dict.fromkeys(params))


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def typed_home(param: str, event_type: str) -> str | None:
    """The Event sub-message a parameter belongs in, by its name (OperatingUnitSid by its event)."""
    if param == "OperatingUnitSid":
        return "task_queue" if event_type.startswith("task-queue.") else "worker"
    name = snake(param)
    for prefix, sub in (("task_channel_", "task_channel"), ("task_queue_", "task_queue"), ("task_", "task"),
                        ("worker_", "worker"), ("workflow_", "workflow"), ("reservation_", "reservation"),
                        ("workspace_", "workspace"), ("activity_", "activity")):
        if name.startswith(prefix):
            return sub
    return None


def typed_value(field: FieldDescriptor, text: str):
    if field.type == FieldDescriptor.TYPE_INT64:
        return int(text)
    if field.type == FieldDescriptor.TYPE_BOOL:
        assert text in ("true", "false"), text
        return text == "true"
    return text


def load_fixture(event_type: str) -> dict[str, str]:
    path = FIXTURES / f"{event_type}.json"
    assert path.is_file(), f"no recorded callback fixture for {event_type}: expected {path}"
    fixture = json.loads(path.read_text())
    assert fixture["event_type"] == event_type == fixture["params"]["EventType"]
    assert all(isinstance(v, str) for v in fixture["params"].values()), "form values are strings"
    return fixture["params"]


SEED_EVENT_TYPES = sorted(seed_catalog()[0])


# --- the seed parse itself -------------------------------------------------------------------------------


def test_the_seed_parse_finds_every_section_and_group():
    rows, groups = seed_catalog()
    prefixes = {event_type.split(".")[0] for event_type in rows}
    assert prefixes == {"activity", "reservation", "task", "task-channel", "task-queue", "worker", "workflow", "workspace"}
    assert len(rows) == 49
    assert groups["common"] == ("EventType", "AccountSid", "WorkspaceSid", "WorkspaceName", "EventDescription",
                                "ResourceType", "ResourceSid", "Timestamp")
    assert groups["Task"][0] == "TaskSid" and len(groups["Task"]) == 7
    assert groups["Worker"][-1] == "OperatingUnitSid" and len(groups["Worker"]) == 7
    assert groups["TaskChannel"] == ("TaskChannelSid", "TaskChannelName", "TaskChannelUniqueName",
                                     "TaskChannelOptimizedRouting")
    assert groups["activity change"] == ("WorkerTimeInPreviousActivity", "WorkerTimeInPreviousActivityMs",
                                         "WorkerPreviousActivitySid")
    assert len(groups["Channel"]) == 6
    assert rows["reservation.failed"] == ("Task", "TaskQueueSid", "ReservationSid", "WorkflowSid")
    assert rows["task.transfer-initiated"] == ("Task", "TaskQueueSid", "WorkflowSid")  # a row with no description
    assert rows["task-queue.created"] == ("TaskQueueSid", "TaskQueueName", "TaskQueueTargetExpression", "OperatingUnitSid")
    # Every token is a group or a parameter name, never a piece of a description.
    for tokens in rows.values():
        assert all(_IDENTIFIER.fullmatch(token) for token in tokens), tokens


def test_the_emulator_knows_the_same_catalog():
    assert set(SEED_EVENT_TYPES) == set(event_types.EVENT_TYPES)


def test_no_fixture_without_an_event_type_in_the_seed():
    on_disk = {path.name.removesuffix(".json") for path in FIXTURES.glob("*.json")}
    assert on_disk == set(SEED_EVENT_TYPES)


# --- one fixture per event type ---------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", SEED_EVENT_TYPES)
def test_fixture_holds_exactly_the_seed_fields(event_type):
    params = load_fixture(event_type)
    assert sorted(params) == sorted(expected_parameters(event_type))
    for name, value in params.items():
        if name.endswith("Sid"):
            assert re.fullmatch(r"[A-Z]{2}[0-9a-f]{32}", value), (name, value)
        if name.endswith("Attributes"):
            assert isinstance(json.loads(value), dict)


@pytest.mark.parametrize("event_type", SEED_EVENT_TYPES)
def test_every_field_lands_in_its_typed_place(event_type):
    params = load_fixture(event_type)
    event = event_from_callback(params, received_ms=1)

    # The envelope.
    assert event.sid == params["Sid"]
    assert event.event_type == event_type
    assert event.account_sid == params["AccountSid"]
    assert event.workspace_sid == params["WorkspaceSid"]
    assert event.description == params["EventDescription"]
    assert event.resource_type == params["ResourceType"].lower()
    assert event.resource_sid == params["ResourceSid"]
    assert event.event_date_ms == int(params["TimestampMs"])
    assert event.event_date.seconds == int(params["Timestamp"])
    assert event.event_date.nanos == int(params["TimestampMs"]) % 1000 * 1_000_000
    assert event.url == f"{TWILIO}/v1/Workspaces/{params['WorkspaceSid']}/Events/{params['Sid']}"

    # Each non-envelope field in its sub-message, typed per the proto; nothing else set.
    homes = set()
    for name, value in params.items():
        if name in ENVELOPE:
            continue
        home = typed_home(name, event_type)
        assert home is not None, f"{name} has no typed place"
        homes.add(home)
        sub = getattr(event, home)
        field = sub.DESCRIPTOR.fields_by_name[snake(name)]
        if field.has_presence:
            assert sub.HasField(field.name), (home, field.name)
        assert getattr(sub, field.name) == typed_value(field, value), (home, field.name)
        if name.endswith("Attributes"):
            struct = getattr(sub, f"{field.name}_struct")
            assert json_format.MessageToDict(struct) == json.loads(value)
    set_subs = {f.name for f, _ in event.ListFields() if f.message_type and f.message_type.name.endswith("Data")}
    assert set_subs == homes
    assert "workspace" in set_subs

    # event_data: every non-envelope field in snake_case, as strings, also as JSON; raw_parameters: all of it.
    expected_data = {snake(name): value for name, value in params.items() if name not in ENVELOPE}
    assert json_format.MessageToDict(event.event_data) == expected_data
    assert json.loads(event.event_data_json) == expected_data
    assert dict(event.raw_parameters) == params


@pytest.mark.parametrize("event_type", SEED_EVENT_TYPES)
def test_resource_url_is_built_like_twilios(event_type):
    params = load_fixture(event_type)
    event = event_from_callback(params, received_ms=1)
    workspace = f"{TWILIO}/v1/Workspaces/{params['WorkspaceSid']}"
    kind = params["ResourceType"]
    if kind == "Workspace":
        expected = workspace
    elif kind == "Reservation":
        expected = f"{workspace}/Tasks/{params['TaskSid']}/Reservations/{params['ResourceSid']}"
    else:
        expected = f"{workspace}/{COLLECTIONS[kind]}/{params['ResourceSid']}"
    assert event.resource_url == expected


@pytest.mark.parametrize("event_type", SEED_EVENT_TYPES)
def test_the_same_event_read_back_from_rest_has_the_same_typed_data(event_type):
    params = load_fixture(event_type)
    from_callback = event_from_callback(params, received_ms=1)
    # What GET .../Events/{Sid} returns for it: envelope as properties, the rest as snake_case event_data.
    rest = {
        "account_sid": params["AccountSid"],
        "description": params["EventDescription"],
        "event_data": {snake(k): v for k, v in params.items() if k not in ENVELOPE},
        "event_date_ms": int(params["TimestampMs"]),
        "event_type": event_type,
        "resource_sid": params["ResourceSid"],
        "resource_type": params["ResourceType"].lower(),
        "resource_url": from_callback.resource_url,
        "sid": params["Sid"],
        "url": from_callback.url,
        "workspace_sid": params["WorkspaceSid"],
    }
    from_rest = event_from_rest(rest)
    for sub in ("task", "worker", "task_channel", "task_queue", "workflow", "reservation", "workspace", "activity"):
        assert from_rest.HasField(sub) == from_callback.HasField(sub), sub
        assert getattr(from_rest, sub) == getattr(from_callback, sub), sub
    assert from_rest.event_data == from_callback.event_data
    assert from_rest.event_date == from_callback.event_date
    assert len(from_rest.raw_parameters) == 0


# --- a few by hand, so the generic checks above are not the only word ---------------------------------


def test_worker_activity_update_carries_the_previous_activity():
    event = event_from_callback(load_fixture("worker.activity.update"), received_ms=1)
    assert event.worker.worker_time_in_previous_activity_ms == 26123
    assert event.worker.worker_time_in_previous_activity == 26
    assert event.worker.worker_previous_activity_sid.startswith("WA")
    assert event.worker.worker_activity_name == "Available"
    assert event.worker.worker_attributes_struct["skills"] == ["english", "billing"]
    assert not event.worker.HasField("worker_channel_available")


def test_worker_capacity_update_carries_the_channel():
    event = event_from_callback(load_fixture("worker.capacity.update"), received_ms=1)
    worker = event.worker
    assert (worker.worker_channel_available, worker.worker_channel_available_capacity,
            worker.worker_channel_previous_capacity, worker.worker_channel_task_count) == (True, 2, 3, 1)
    assert event.task_channel.task_channel_unique_name == "chat"
    assert event.task_channel.task_channel_sid.startswith("TC")
    assert not event.task_channel.HasField("task_channel_optimized_routing")


def test_channel_availability_false_is_set_not_missing():
    worker = event_from_callback(load_fixture("worker.channel.availability.update"), received_ms=1).worker
    assert worker.HasField("worker_channel_available") and worker.worker_channel_available is False
    assert worker.HasField("worker_channel_task_count") and worker.worker_channel_task_count == 0


def test_operating_unit_goes_to_the_queue_on_task_queue_created_and_to_the_worker_elsewhere():
    queue_event = event_from_callback(load_fixture("task-queue.created"), received_ms=1)
    assert queue_event.task_queue.operating_unit_sid.startswith("OU")
    assert not queue_event.HasField("worker")
    worker_event = event_from_callback(load_fixture("reservation.accepted"), received_ms=1)
    assert worker_event.worker.operating_unit_sid.startswith("OU")
    assert worker_event.task_queue.operating_unit_sid == ""


def test_reservation_accepted_fills_every_related_sub_message():
    params = load_fixture("reservation.accepted")
    event = event_from_callback(params, received_ms=1)
    assert event.reservation.reservation_sid == params["ReservationSid"] == event.resource_sid
    assert event.task.task_sid == params["TaskSid"]
    assert event.task.task_age == 37 and event.task.task_priority == 10
    assert event.task.task_assignment_status == "assigned"
    assert event.task.task_attributes_struct["type"] == "support"
    assert event.worker.worker_sid == params["WorkerSid"]
    assert event.task_queue.task_queue_sid == params["TaskQueueSid"]
    assert event.workflow.workflow_sid == params["WorkflowSid"]
    assert event.resource_type == "reservation"


def test_activity_and_task_channel_booleans():
    activity = event_from_callback(load_fixture("activity.created"), received_ms=1).activity
    assert activity.HasField("activity_available") and activity.activity_available is False
    assert activity.activity_name == "Break"
    channel = event_from_callback(load_fixture("task-channel.updated"), received_ms=1).task_channel
    assert channel.task_channel_optimized_routing is True
    assert event_from_callback(load_fixture("task-channel.updated"), received_ms=1).resource_type == "taskchannel"
