"""The gateway's protobuf API against its ground truth: Twilio's OpenAPI specs and the TaskRouter doc pages.

Checks that each resource message mirrors its OpenAPI schema field for field (snake_case names, types),
that requests carry every documented parameter, that every element of the .proto files is commented,
and that the generation pipeline is deterministic and its drift check actually fails on drift.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import grpc
import grpc_tools
import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from grpc_tools import protoc

from taskrouter.gateway.v1 import (
    activity_pb2,
    activity_service_pb2,
    activity_service_pb2_grpc,
    call_event_pb2,
    call_event_service_pb2,
    call_event_service_pb2_grpc,
    event_pb2,
    event_service_pb2,
    event_service_pb2_grpc,
    worker_pb2,
    worker_service_pb2,
    worker_service_pb2_grpc,
    workspace_pb2,
    workspace_service_pb2,
    reservation_pb2,
    reservation_service_pb2,
    statistics_pb2,
    statistics_service_pb2,
    task_channel_pb2,
    task_channel_service_pb2,
    task_pb2,
    task_queue_pb2,
    task_queue_service_pb2,
    task_service_pb2,
    workflow_pb2,
    workflow_service_pb2,
    workspace_service_pb2_grpc,
)

ROOT = Path(__file__).resolve().parents[2]
PROTO_ROOT = ROOT / "protos"
PROTO_DIR = PROTO_ROOT / "taskrouter" / "gateway" / "v1"
# Twilio's OpenAPI files (copied unchanged) and facts from the TaskRouter and Voice doc pages, as data.
OPENAPI = ROOT / "tests" / "fixtures" / "openapi"
DOCS = json.loads((ROOT / "tests" / "fixtures" / "docs" / "taskrouter_docs.json").read_text())
PACKAGE = "taskrouter.gateway.v1"

# Every way the API deliberately departs from a plain snake_case mirror of Twilio, with the reason.
# Keys: "Message.field" for resource fields, "Operation:Parameter" for request parameters.
DELIBERATE_DIFFERENCES: dict[str, str] = {
    # Fields whose spec type is an untyped JSON value.
    "Event.event_data": "untyped JSON object in the spec: a Struct view; event_data_json keeps the exact JSON",
    "CallEvent.request": "untyped in the spec: a typed message with the keys the Call Events page documents",
    "CallEvent.response": "untyped in the spec: a typed message with the keys the Call Events page documents",
    # Gateway-only fields that Twilio's JSON does not have.
    "Worker.attributes_struct": "convenience Struct view of the raw attributes JSON string",
    "Worker.etag": "the HTTP ETag header of a single fetch/update, for If-Match",
    "Task.attributes_struct": "convenience Struct view of the raw attributes JSON string",
    "Task.etag": "the HTTP ETag header of a single fetch/update, for If-Match",
    "Reservation.etag": "the HTTP ETag header (its Task's) of a task-scoped fetch/update, for If-Match",
    "Workflow.task_routing": "typed view of the configuration JSON string (which stays authoritative)",
    "Event.event_data_json": "event_data as exact JSON (Struct turns integers into doubles)",
    "Event.raw_parameters": "the callback's form fields as posted",
    "Event.task": "typed view of the callback's Task* fields (the Events Reference page)",
    "Event.worker": "typed view of the callback's Worker* fields (the Events Reference page)",
    "Event.task_channel": "typed view of the callback's TaskChannel* fields (the Events Reference page)",
    "Event.task_queue": "typed view of the callback's TaskQueue* fields (the Events Reference page)",
    "Event.workflow": "typed view of the callback's Workflow* fields (the Events Reference page)",
    "Event.reservation": "typed view of the callback's ReservationSid (the Events Reference page)",
    "Event.workspace": "typed view of the callback's WorkspaceSid/WorkspaceName (the Events Reference page)",
    "Event.activity": "typed view of the callback's Activity* fields (the Events Reference page)",
    # Statistics: the objects the spec leaves untyped are typed messages (statistics.proto).
    **{f"{m}.{f}": "untyped in the spec: a typed message (statistics.proto)" for m, fs in {
        "WorkspaceStatistics": ("realtime", "cumulative"),
        "TaskQueueStatistics": ("realtime", "cumulative"),
        "WorkflowStatistics": ("realtime", "cumulative"),
        "WorkersStatistics": ("realtime", "cumulative"),
        "WorkerInstanceStatistics": ("cumulative",),
        "WorkspaceCumulativeStatistics": ("split_by_wait_time", "wait_duration_until_accepted",
                                          "wait_duration_until_canceled"),
        "TaskQueueCumulativeStatistics": ("split_by_wait_time", "wait_duration_until_accepted",
                                          "wait_duration_until_canceled", "wait_duration_in_queue_until_accepted"),
        "WorkflowCumulativeStatistics": ("split_by_wait_time", "wait_duration_until_accepted",
                                         "wait_duration_until_canceled"),
        "WorkspaceRealTimeStatistics": ("activity_statistics", "tasks_by_priority", "tasks_by_status"),
        "TaskQueueRealTimeStatistics": ("activity_statistics", "tasks_by_priority", "tasks_by_status"),
        "WorkflowRealTimeStatistics": ("tasks_by_priority", "tasks_by_status"),
        "WorkersRealTimeStatistics": ("activity_statistics",),
        "WorkersCumulativeStatistics": ("activity_durations",),
        "TaskQueueBulkRealTimeStatistics": ("task_queue_data",),
    }.items() for f in fs},
    "TaskQueueStatistics.url": "empty in the list form, whose items Twilio gives no url",
    # Request parameters.
    "*:Page": "Twilio's page index is client state only; paging uses the opaque page_token",
    "*:If-Match": "carried as `etag` (the value the Worker message exposes)",
    "FetchWorkspace:Sid": "named workspace_sid: every request names its workspace the same way",
    "UpdateWorkspace:Sid": "named workspace_sid: every request names its workspace the same way",
    "DeleteWorkspace:Sid": "named workspace_sid: every request names its workspace the same way",
    # Callback parameters (the Events Reference page) that map onto an Event property of another name.
    "callback:EventDescription": "Event.description, the REST property with the same meaning",
    "callback:Timestamp": "Event.event_date, the REST property with the same meaning",
}
RENAMED_PARAMETERS = {
    "*:If-Match": "etag",
    "FetchWorkspace:Sid": "workspace_sid",
    "UpdateWorkspace:Sid": "workspace_sid",
    "DeleteWorkspace:Sid": "workspace_sid",
    "callback:EventDescription": "description",
    "callback:Timestamp": "event_date",
}

# (spec file, schema) -> generated message class.
RESOURCES = {
    ("twilio_taskrouter_v1.json", "taskrouter.v1.workspace.activity"): activity_pb2.Activity,
    ("twilio_taskrouter_v1.json", "taskrouter.v1.workspace.worker"): worker_pb2.Worker,
    ("twilio_taskrouter_v1.json", "taskrouter.v1.workspace"): workspace_pb2.Workspace,
    ("twilio_taskrouter_v1.json", "taskrouter.v1.workspace.event"): event_pb2.Event,
    ("twilio_api_v2010_call_events.json", "api.v2010.account.call.call_event"): call_event_pb2.CallEvent,
    ("twilio_taskrouter_v1.json", "taskrouter.v1.workspace.task_channel"): task_channel_pb2.TaskChannel,
    ("twilio_taskrouter_v1.json", "taskrouter.v1.workspace.task_queue"): task_queue_pb2.TaskQueue,
    ("twilio_taskrouter_v1.json", "taskrouter.v1.workspace.workflow"): workflow_pb2.Workflow,
    ("twilio_taskrouter_v1.json", "taskrouter.v1.workspace.task"): task_pb2.Task,
    ("twilio_taskrouter_v1.json", "taskrouter.v1.workspace.task.task_reservation"): reservation_pb2.Reservation,
    ("twilio_taskrouter_v1.json", "taskrouter.v1.workspace.worker.worker_reservation"): reservation_pb2.Reservation,
    ("twilio_taskrouter_v1.json", "taskrouter.v1.workspace.worker.worker_channel"): reservation_pb2.WorkerChannel,
    **{("twilio_taskrouter_v1.json", f"taskrouter.v1.workspace.{schema}"): getattr(statistics_pb2, name) for schema, name in (
        ("workspace_statistics", "WorkspaceStatistics"),
        ("workspace_cumulative_statistics", "WorkspaceCumulativeStatistics"),
        ("workspace_real_time_statistics", "WorkspaceRealTimeStatistics"),
        ("task_queue.task_queue_statistics", "TaskQueueStatistics"),
        ("task_queue.task_queues_statistics", "TaskQueueStatistics"),
        ("task_queue.task_queue_cumulative_statistics", "TaskQueueCumulativeStatistics"),
        ("task_queue.task_queue_real_time_statistics", "TaskQueueRealTimeStatistics"),
        ("task_queue.task_queue_bulk_real_time_statistics", "TaskQueueBulkRealTimeStatistics"),
        ("worker.worker_instance_statistics", "WorkerInstanceStatistics"),
        ("worker.worker_statistics", "WorkersStatistics"),
        ("worker.workers_cumulative_statistics", "WorkersCumulativeStatistics"),
        ("worker.workers_real_time_statistics", "WorkersRealTimeStatistics"),
        ("workflow.workflow_statistics", "WorkflowStatistics"),
        ("workflow.workflow_cumulative_statistics", "WorkflowCumulativeStatistics"),
        ("workflow.workflow_real_time_statistics", "WorkflowRealTimeStatistics"),
    )},
}

# Twilio operationId -> request message carrying its parameters.
OPERATIONS = {
    "FetchTaskChannel": task_channel_service_pb2.GetTaskChannelRequest,
    "ListTaskChannel": task_channel_service_pb2.ListTaskChannelsRequest,
    "CreateTaskChannel": task_channel_service_pb2.CreateTaskChannelRequest,
    "UpdateTaskChannel": task_channel_service_pb2.UpdateTaskChannelRequest,
    "DeleteTaskChannel": task_channel_service_pb2.DeleteTaskChannelRequest,
    "FetchTaskQueue": task_queue_service_pb2.GetTaskQueueRequest,
    "ListTaskQueue": task_queue_service_pb2.ListTaskQueuesRequest,
    "CreateTaskQueue": task_queue_service_pb2.CreateTaskQueueRequest,
    "UpdateTaskQueue": task_queue_service_pb2.UpdateTaskQueueRequest,
    "DeleteTaskQueue": task_queue_service_pb2.DeleteTaskQueueRequest,
    "FetchWorkflow": workflow_service_pb2.GetWorkflowRequest,
    "ListWorkflow": workflow_service_pb2.ListWorkflowsRequest,
    "CreateWorkflow": workflow_service_pb2.CreateWorkflowRequest,
    "UpdateWorkflow": workflow_service_pb2.UpdateWorkflowRequest,
    "DeleteWorkflow": workflow_service_pb2.DeleteWorkflowRequest,
    "FetchTask": task_service_pb2.GetTaskRequest,
    "ListTask": task_service_pb2.ListTasksRequest,
    "CreateTask": task_service_pb2.CreateTaskRequest,
    "UpdateTask": task_service_pb2.UpdateTaskRequest,
    "DeleteTask": task_service_pb2.DeleteTaskRequest,
    "FetchTaskReservation": reservation_service_pb2.GetReservationRequest,
    "ListTaskReservation": reservation_service_pb2.ListReservationsRequest,
    "FetchWorkerReservation": reservation_service_pb2.GetReservationRequest,
    "ListWorkerReservation": reservation_service_pb2.ListReservationsRequest,
    "FetchWorkerChannel": worker_service_pb2.GetWorkerChannelRequest,
    "ListWorkerChannel": worker_service_pb2.ListWorkerChannelsRequest,
    "UpdateWorkerChannel": worker_service_pb2.UpdateWorkerChannelRequest,
    "FetchActivity": activity_service_pb2.GetActivityRequest,
    "ListActivity": activity_service_pb2.ListActivitiesRequest,
    "CreateActivity": activity_service_pb2.CreateActivityRequest,
    "UpdateActivity": activity_service_pb2.UpdateActivityRequest,
    "DeleteActivity": activity_service_pb2.DeleteActivityRequest,
    "FetchWorker": worker_service_pb2.GetWorkerRequest,
    "ListWorker": worker_service_pb2.ListWorkersRequest,
    "CreateWorker": worker_service_pb2.CreateWorkerRequest,
    "UpdateWorker": worker_service_pb2.UpdateWorkerRequest,
    "DeleteWorker": worker_service_pb2.DeleteWorkerRequest,
    "FetchWorkspace": workspace_service_pb2.GetWorkspaceRequest,
    "ListWorkspace": workspace_service_pb2.ListWorkspacesRequest,
    "CreateWorkspace": workspace_service_pb2.CreateWorkspaceRequest,
    "UpdateWorkspace": workspace_service_pb2.UpdateWorkspaceRequest,
    "DeleteWorkspace": workspace_service_pb2.DeleteWorkspaceRequest,
    "FetchEvent": event_service_pb2.GetEventRequest,
    "ListEvent": event_service_pb2.ListEventsRequest,
    **{op: getattr(statistics_service_pb2, f"{rpc}Request") for op, rpc in (
        ("FetchWorkspaceStatistics", "GetWorkspaceStatistics"),
        ("FetchWorkspaceCumulativeStatistics", "GetWorkspaceCumulativeStatistics"),
        ("FetchWorkspaceRealTimeStatistics", "GetWorkspaceRealTimeStatistics"),
        ("FetchTaskQueueStatistics", "GetTaskQueueStatistics"),
        ("FetchTaskQueueCumulativeStatistics", "GetTaskQueueCumulativeStatistics"),
        ("FetchTaskQueueRealTimeStatistics", "GetTaskQueueRealTimeStatistics"),
        ("ListTaskQueuesStatistics", "ListTaskQueuesStatistics"),
        ("CreateTaskQueueBulkRealTimeStatistics", "BatchGetTaskQueueRealTimeStatistics"),
        ("FetchWorkerInstanceStatistics", "GetWorkerInstanceStatistics"),
        ("FetchWorkerStatistics", "GetWorkerStatistics"),
        ("FetchWorkersCumulativeStatistics", "GetWorkersCumulativeStatistics"),
        ("FetchWorkersRealTimeStatistics", "GetWorkersRealTimeStatistics"),
        ("FetchWorkflowStatistics", "GetWorkflowStatistics"),
        ("FetchWorkflowCumulativeStatistics", "GetWorkflowCumulativeStatistics"),
        ("FetchWorkflowRealTimeStatistics", "GetWorkflowRealTimeStatistics"),
    )},
}

CRUD_SERVICES = [
    (activity_service_pb2, "ActivityService", "Activity", "Activities", activity_pb2.Activity),
    (worker_service_pb2, "WorkerService", "Worker", "Workers", worker_pb2.Worker),
    (workspace_service_pb2, "WorkspaceService", "Workspace", "Workspaces", workspace_pb2.Workspace),
    (task_channel_service_pb2, "TaskChannelService", "TaskChannel", "TaskChannels", task_channel_pb2.TaskChannel),
    (task_queue_service_pb2, "TaskQueueService", "TaskQueue", "TaskQueues", task_queue_pb2.TaskQueue),
    (workflow_service_pb2, "WorkflowService", "Workflow", "Workflows", workflow_pb2.Workflow),
    (task_service_pb2, "TaskService", "Task", "Tasks", task_pb2.Task),
]
# Sub-resource RPCs a CRUD service carries besides its standard five (Twilio nests them under the resource).
EXTRA_METHODS = {"WorkerService": {"GetWorkerChannel", "ListWorkerChannels", "UpdateWorkerChannel"}}


def snake(name: str) -> str:
    """Twilio's PascalCase parameter name -> its snake_case JSON property name."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def load_spec(name: str) -> dict:
    return json.loads((OPENAPI / name).read_text())


def spec_operations() -> dict[str, tuple[str, dict]]:
    spec = load_spec("twilio_taskrouter_v1.json")
    found = {}
    for path, item in spec["paths"].items():
        for _method, op in item.items():
            if isinstance(op, dict) and op.get("operationId") in OPERATIONS:
                found[op["operationId"]] = (path, op)
    return found


def field_type(fd: FieldDescriptor) -> str:
    """A readable type name: "string", "bool", "int64", "map<string,string>", or a message/enum full name."""
    if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
        key, value = fd.message_type.fields_by_name["key"], fd.message_type.fields_by_name["value"]
        return f"map<{field_type(key)},{field_type(value)}>"
    if fd.message_type is not None:
        return fd.message_type.full_name
    if fd.enum_type is not None:
        return fd.enum_type.full_name
    names = {
        FieldDescriptor.TYPE_STRING: "string",
        FieldDescriptor.TYPE_BOOL: "bool",
        FieldDescriptor.TYPE_INT64: "int64",
        FieldDescriptor.TYPE_INT32: "int32",
    }
    return names.get(fd.type, f"type#{fd.type}")


def expected_type(prop: dict, schemas: dict) -> str:
    """The proto type a Twilio property must have: dates as Timestamp, uri-maps as map<string,string>."""
    if "$ref" in prop:
        target = schemas[prop["$ref"].rsplit("/", 1)[-1]]
        assert "enum" in target, f"unexpected $ref {prop['$ref']}"
        return "enum"
    if prop.get("format") == "date-time":
        return "google.protobuf.Timestamp"
    if prop.get("format") == "uri-map":
        return "map<string,string>"
    if prop.get("type") == "integer":
        return "int64" if prop.get("format") == "int64" else "int32"
    return {"boolean": "bool", "string": "string"}.get(prop.get("type", ""), "untyped")


def is_deliberate(key: str) -> bool:
    wildcard = "*:" + key.split(":", 1)[1] if ":" in key else None
    return key in DELIBERATE_DIFFERENCES or (wildcard is not None and wildcard in DELIBERATE_DIFFERENCES)


def renamed(key: str) -> str | None:
    wildcard = "*:" + key.split(":", 1)[1]
    return RENAMED_PARAMETERS.get(key, RENAMED_PARAMETERS.get(wildcard))


# --- generated modules --------------------------------------------------------------------------


def test_every_proto_file_has_generated_python_modules() -> None:
    protos = sorted(PROTO_DIR.glob("*.proto"))
    assert {p.stem for p in protos} >= {
        "activity", "worker", "workspace", "event", "call_event",
        "activity_service", "worker_service", "workspace_service", "event_service", "call_event_service",
    }
    pkg = ROOT / "clients" / "python" / "taskrouter" / "gateway" / "v1"
    for proto in protos:
        for suffix in ("_pb2.py", "_pb2.pyi"):
            assert (pkg / f"{proto.stem}{suffix}").is_file(), f"{proto.name}: no {proto.stem}{suffix}"
        has_service = "\nservice " in proto.read_text()
        for suffix in ("_pb2_grpc.py", "_pb2_grpc.pyi"):
            assert (pkg / f"{proto.stem}{suffix}").is_file() == has_service, f"{proto.name}: {suffix}"
    assert (ROOT / "clients" / "python" / "taskrouter" / "py.typed").is_file()


@pytest.mark.parametrize(
    ("grpc_module", "service"),
    [
        (activity_service_pb2_grpc, "ActivityService"),
        (worker_service_pb2_grpc, "WorkerService"),
        (workspace_service_pb2_grpc, "WorkspaceService"),
        (event_service_pb2_grpc, "EventService"),
        (call_event_service_pb2_grpc, "CallEventService"),
    ],
)
def test_grpc_modules_expose_stub_servicer_and_registration(grpc_module: ModuleType, service: str) -> None:
    assert callable(getattr(grpc_module, f"{service}Stub"))
    assert callable(getattr(grpc_module, f"{service}Servicer"))
    assert callable(getattr(grpc_module, f"add_{service}Servicer_to_server"))


# --- resources mirror the OpenAPI schemas -------------------------------------------------------


@pytest.mark.parametrize(("source", "message"), RESOURCES.items(), ids=[m.__name__ for m in RESOURCES.values()])
def test_resource_has_every_schema_property_with_the_right_type(source: tuple[str, str], message: type) -> None:
    spec = load_spec(source[0])
    schemas = spec["components"]["schemas"]
    props = schemas[source[1]]["properties"]
    desc: Descriptor = message.DESCRIPTOR
    problems = []
    for prop_name, prop in props.items():
        name = snake(prop_name)
        fd = desc.fields_by_name.get(name)
        if fd is None:
            problems.append(f"missing field {name}")
            continue
        key = f"{desc.name}.{name}"
        if is_deliberate(key):
            continue
        want, got = expected_type(prop, schemas), field_type(fd)
        if want == "enum":
            if fd.enum_type is None:
                problems.append(f"{name}: want an enum, got {got}")
        elif want != got:
            problems.append(f"{name}: want {want}, got {got}")
    extras = [f for f in desc.fields_by_name if f not in props and not is_deliberate(f"{desc.name}.{f}")]
    problems += [f"field {f} is neither in the schema nor in DELIBERATE_DIFFERENCES" for f in extras]
    assert not problems, f"{desc.full_name} vs {source[1]}: {problems}"


def test_workspace_queue_order_enum_mirrors_the_spec_enum() -> None:
    schemas = load_spec("twilio_taskrouter_v1.json")["components"]["schemas"]
    spec_values = schemas["workspace_enum_queue_order"]["enum"]
    enum: EnumDescriptor = workspace_pb2.Workspace.DESCRIPTOR.fields_by_name["prioritize_queue_order"].enum_type
    assert [v.name for v in enum.values] == ["QUEUE_ORDER_UNSPECIFIED"] + [f"QUEUE_ORDER_{v}" for v in spec_values]


def all_enums() -> Iterator[EnumDescriptor]:
    def walk(messages: list[Descriptor]) -> Iterator[EnumDescriptor]:
        for m in messages:
            yield from m.enum_types
            yield from walk(m.nested_types)

    for module in (activity_pb2, worker_pb2, workspace_pb2, event_pb2, call_event_pb2):
        yield from module.DESCRIPTOR.enum_types_by_name.values()
        yield from walk(list(module.DESCRIPTOR.message_types_by_name.values()))


def test_every_enum_starts_with_an_unspecified_zero_value() -> None:
    enums = list(all_enums())
    assert enums, "expected at least Workspace.QueueOrder"
    for enum in enums:
        first = enum.values[0]
        assert first.number == 0 and first.name.endswith("_UNSPECIFIED"), enum.full_name


def test_attributes_keep_the_raw_json_string_and_offer_a_struct_view() -> None:
    fields = worker_pb2.Worker.DESCRIPTOR.fields_by_name
    assert field_type(fields["attributes"]) == "string"
    assert field_type(fields["attributes_struct"]) == "google.protobuf.Struct"
    # The reason the raw string is authoritative: a Struct cannot hold an integer.
    raw = '{"level": 3, "skills": ["sales", {"langs": ["en"]}], "big": 9007199254740993}'
    worker = worker_pb2.Worker(attributes=raw)
    worker.attributes_struct.update(json.loads(raw))
    back = worker_pb2.Worker.FromString(worker.SerializeToString())
    assert back.attributes == raw
    assert back.attributes_struct["level"] == 3.0 and isinstance(back.attributes_struct["level"], float)
    assert int(back.attributes_struct["big"]) != 9007199254740993  # doubles lose it; the string does not
    event_fields = event_pb2.Event.DESCRIPTOR.fields_by_name
    assert field_type(event_fields["event_data"]) == "google.protobuf.Struct"
    assert field_type(event_fields["event_data_json"]) == "string"
    assert field_type(event_fields["raw_parameters"]) == "map<string,string>"


# --- requests carry every documented parameter --------------------------------------------------


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_request_carries_every_spec_parameter(operation: str) -> None:
    ops = spec_operations()
    assert operation in ops, f"{operation} not found in the spec"
    path, op = ops[operation]
    desc = OPERATIONS[operation].DESCRIPTOR
    wanted: dict[str, dict] = {p["name"]: p.get("schema", {}) for p in op.get("parameters", [])}
    body = op.get("requestBody", {}).get("content", {}).get("application/x-www-form-urlencoded", {})
    wanted.update(body.get("schema", {}).get("properties", {}))
    problems = []
    for param, schema in wanted.items():
        key = f"{operation}:{param}"
        field = renamed(key) or snake(param)
        if is_deliberate(key) and renamed(key) is None:
            assert field not in desc.fields_by_name, f"{key} is listed as omitted but is present"
            continue
        fd = desc.fields_by_name.get(field)
        if fd is None:
            problems.append(f"{param} -> missing field {field}")
        elif schema.get("format") == "date-time" and field_type(fd) != "google.protobuf.Timestamp":
            problems.append(f"{param} -> {field} must be a Timestamp")
        elif param == "Available" and not (field_type(fd) == "bool" and fd.has_presence):
            problems.append(f"{param} -> {field} must be a tri-state optional bool")
    assert not problems, f"{desc.full_name}: {problems}"


@pytest.mark.parametrize("operation", ["UpdateActivity", "UpdateWorker", "UpdateWorkspace"])
def test_update_fields_say_whether_they_are_set(operation: str) -> None:
    _, op = spec_operations()[operation]
    body = op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]["properties"]
    desc = OPERATIONS[operation].DESCRIPTOR
    for param in body:
        fd = desc.fields_by_name[snake(param)]
        # An enum's UNSPECIFIED zero value already means "leave unchanged".
        unset_is_visible = fd.has_presence or (fd.enum_type is not None and fd.enum_type.values[0].number == 0)
        assert unset_is_visible, f"{desc.name}.{fd.name} cannot tell 'unset' from its default"


def test_update_and_delete_worker_carry_the_etag() -> None:
    for message in (worker_service_pb2.UpdateWorkerRequest, worker_service_pb2.DeleteWorkerRequest):
        assert field_type(message.DESCRIPTOR.fields_by_name["etag"]) == "string"


def test_list_workers_request_has_every_filter_of_the_worker_page() -> None:
    params = DOCS["list_workers_query_parameters"]
    assert {"ActivityName", "TargetWorkersExpression", "Ordering", "PageToken"} <= set(params), params
    fields = worker_service_pb2.ListWorkersRequest.DESCRIPTOR.fields_by_name
    missing = [p for p in params if p != "Page" and snake(p) not in fields]
    assert not missing, f"ListWorkersRequest lacks the Worker Resource page filters {missing}"
    assert fields["available"].has_presence


def test_list_events_request_has_every_filter_of_the_event_page() -> None:
    params = DOCS["list_events_query_parameters"]
    assert {"EndDate", "Minutes", "TaskChannel", "Sid", "PageToken"} <= set(params), params
    fields = event_service_pb2.ListEventsRequest.DESCRIPTOR.fields_by_name
    missing = [p for p in params if p != "Page" and snake(p) not in fields]
    assert not missing, f"ListEventsRequest lacks the Event Resource page filters {missing}"


def test_event_carries_every_callback_parameter_of_the_events_reference() -> None:
    params = set(DOCS["callback_parameters"])
    assert {"TaskAge", "WorkerTimeInPreviousActivityMs", "WorkerChannelTaskCount", "ActivityAvailable",
            "TaskQueueTargetExpression", "WorkflowName", "EventDescription"} <= params, params
    event = event_pb2.Event.DESCRIPTOR
    sub_messages = [fd.message_type for fd in event.fields if fd.message_type and fd.message_type.name.endswith("Data")]
    assert {m.name for m in sub_messages} >= {
        "TaskData", "WorkerData", "TaskChannelData", "TaskQueueData", "WorkflowData", "ReservationData", "WorkspaceData",
    }
    names_everywhere = set(event.fields_by_name) | {f for m in sub_messages for f in m.fields_by_name}
    missing = []
    for param in sorted(params):
        field = renamed(f"callback:{param}") or snake(param)
        if field not in names_everywhere:
            missing.append(f"{param} -> {field}")
    assert not missing, f"Event and its *Data messages lack {missing}"
    # The reverse: a *Data field is either a seed parameter or a documented Struct view of one.
    invented = [
        f"{m.name}.{f}"
        for m in sub_messages
        for f in m.fields_by_name
        if f not in {snake(p) for p in params} and not (f.endswith("_struct") and f[: -len("_struct")] in m.fields_by_name)
    ]
    assert not invented, f"*Data fields not named after a the Events Reference page parameter: {invented}"


def test_call_event_request_and_response_carry_the_keys_the_call_events_page_documents() -> None:
    request_keys, response_keys = (set(DOCS["call_event_keys"][prop]) for prop in ("request", "response"))
    assert request_keys == {"url", "method", "parameters"}
    assert len(response_keys) == 5
    http_request = call_event_pb2.CallEvent.HttpRequest.DESCRIPTOR.fields_by_name
    http_response = call_event_pb2.CallEvent.HttpResponse.DESCRIPTOR.fields_by_name
    assert request_keys == set(http_request) and response_keys == set(http_response)
    assert field_type(http_request["parameters"]) == "map<string,string>"
    assert field_type(http_response["date_created"]) == "google.protobuf.Timestamp"
    fields = call_event_service_pb2.ListCallEventsRequest.DESCRIPTOR.fields_by_name
    assert set(fields) == {"account_sid", "call_sid", "page_size", "page_token"}


# --- service shapes -----------------------------------------------------------------------------


@pytest.mark.parametrize(("module", "service", "singular", "plural", "resource"), CRUD_SERVICES)
def test_crud_service_has_the_standard_methods(
    module: ModuleType, service: str, singular: str, plural: str, resource: type
) -> None:
    methods = module.DESCRIPTOR.services_by_name[service].methods_by_name
    standard = {f"{verb}{singular}" for verb in ("Get", "Create", "Update", "Delete")} | {f"List{plural}"}
    assert set(methods) == standard | EXTRA_METHODS.get(service, set())
    for verb in ("Get", "Create", "Update"):
        assert methods[f"{verb}{singular}"].output_type is resource.DESCRIPTOR
    assert methods[f"Delete{singular}"].output_type.full_name == "google.protobuf.Empty"
    listing = methods[f"List{plural}"]
    assert listing.output_type.fields_by_name["next_page_token"].type == FieldDescriptor.TYPE_STRING
    repeated = [f for f in listing.output_type.fields if f.is_repeated]
    assert [f.message_type for f in repeated] == [resource.DESCRIPTOR]
    for method in methods.values():
        if method.name not in standard:
            continue
        fields = method.input_type.fields_by_name
        if method.name not in (f"Create{singular}", f"List{plural}") or singular != "Workspace":
            assert "workspace_sid" in fields, f"{method.name} does not name its workspace"


def test_every_list_request_pages_with_size_and_opaque_token() -> None:
    lists = [m for m in OPERATIONS.values() if m.DESCRIPTOR.name.startswith("List")]
    lists.append(call_event_service_pb2.ListCallEventsRequest)
    for message in lists:
        fields = message.DESCRIPTOR.fields_by_name
        assert field_type(fields["page_size"]) == "int32", message.DESCRIPTOR.name
        assert field_type(fields["page_token"]) == "string", message.DESCRIPTOR.name


def test_event_service_streams_from_a_chosen_start_position() -> None:
    service = event_service_pb2.DESCRIPTOR.services_by_name["EventService"]
    assert set(service.methods_by_name) == {
        "GetEvent", "ListEvents", "StreamEvents", "BackfillEvents", "ConfigureEventCallback",
    }
    stream = service.methods_by_name["StreamEvents"]
    assert stream.server_streaming and not stream.client_streaming
    request = stream.input_type
    oneof = request.oneofs_by_name["start_position"]
    assert [f.name for f in oneof.fields] == ["start_at_now", "after_cursor", "since"]
    assert field_type(request.fields_by_name["since"]) == "google.protobuf.Timestamp"
    assert request.fields_by_name["event_types"].is_repeated
    response = stream.output_type.fields_by_name
    assert list(response) == ["events"] and response["events"].is_repeated
    streamed = response["events"].message_type.fields_by_name
    assert streamed["event"].message_type is event_pb2.Event.DESCRIPTOR
    assert field_type(streamed["cursor"]) == "string"
    resume = event_service_pb2.StreamEventsRequest(workspace_sid="WS1", after_cursor="c-9")
    assert resume.WhichOneof("start_position") == "after_cursor"
    resume.start_at_now = True
    assert resume.WhichOneof("start_position") == "start_at_now" and resume.after_cursor == ""


async def test_generated_stubs_talk_to_generated_servicers_over_a_real_channel() -> None:
    class Workers(worker_service_pb2_grpc.WorkerServiceServicer):
        async def GetWorker(self, request, context):  # noqa: N802 - generated name
            if not request.sid:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "sid is required")
            return worker_pb2.Worker(sid=request.sid, workspace_sid=request.workspace_sid, etag='"7"')

    class Events(event_service_pb2_grpc.EventServiceServicer):
        async def StreamEvents(self, request, context):  # noqa: N802 - generated name
            for n in range(2):
                event = event_pb2.Event(sid=f"EV{n}", workspace_sid=request.workspace_sid, event_type="worker.created")
                yield event_service_pb2.StreamEventsResponse(
                    events=[event_service_pb2.StreamedEvent(event=event, cursor=f"c{n}")]
                )

    server = grpc.aio.server()
    worker_service_pb2_grpc.add_WorkerServiceServicer_to_server(Workers(), server)
    event_service_pb2_grpc.add_EventServiceServicer_to_server(Events(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            workers = worker_service_pb2_grpc.WorkerServiceStub(channel)
            got = await workers.GetWorker(worker_service_pb2.GetWorkerRequest(workspace_sid="WS1", sid="WK1"))
            assert (got.sid, got.workspace_sid, got.etag) == ("WK1", "WS1", '"7"')
            with pytest.raises(grpc.aio.AioRpcError) as failure:
                await workers.GetWorker(worker_service_pb2.GetWorkerRequest(workspace_sid="WS1"))
            assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            # Methods the servicer does not implement answer UNIMPLEMENTED rather than hanging.
            with pytest.raises(grpc.aio.AioRpcError) as missing:
                await workers.DeleteWorker(worker_service_pb2.DeleteWorkerRequest(workspace_sid="WS1", sid="WK1"))
            assert missing.value.code() == grpc.StatusCode.UNIMPLEMENTED

            events = event_service_pb2_grpc.EventServiceStub(channel)
            stream = events.StreamEvents(event_service_pb2.StreamEventsRequest(workspace_sid="WS9", start_at_now=True))
            received = [(e.event.sid, e.event.workspace_sid, e.cursor) async for m in stream for e in m.events]
            assert received == [("EV0", "WS9", "c0"), ("EV1", "WS9", "c1")]
    finally:
        await server.stop(None)


# --- every element is commented -----------------------------------------------------------------


def compile_with_source_info(proto_root: Path, out: Path) -> descriptor_pb2.FileDescriptorSet:
    wkt = Path(grpc_tools.__file__).parent / "_proto"
    files = sorted(str(p.relative_to(proto_root)) for p in proto_root.rglob("*.proto"))
    args = ["protoc", f"-I{proto_root}", f"-I{wkt}", "--include_source_info", f"--descriptor_set_out={out}", *files]
    assert protoc.main(args) == 0, f"protoc failed on {proto_root}"
    return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def uncommented_elements(fds: descriptor_pb2.FileDescriptorSet) -> list[str]:
    """Messages, fields, oneofs, enums, values, services and methods without a leading comment."""
    missing: list[str] = []
    for file in fds.file:
        comments = {tuple(loc.path): loc.leading_comments.strip() for loc in file.source_code_info.location}

        def need(path: tuple[int, ...], name: str) -> None:
            if not comments.get(path):  # noqa: B023 - called within this iteration
                missing.append(f"{file.name}: {name}")  # noqa: B023

        def enum(e: descriptor_pb2.EnumDescriptorProto, path: tuple[int, ...], scope: str) -> None:
            need(path, f"{scope}{e.name}")
            for i, value in enumerate(e.value):
                need(path + (2, i), f"{scope}{e.name}.{value.name}")

        def message(m: descriptor_pb2.DescriptorProto, path: tuple[int, ...], scope: str) -> None:
            if m.options.map_entry:  # synthesized for map<,> fields: nothing to comment
                return
            full = f"{scope}{m.name}"
            need(path, full)
            for i, f in enumerate(m.field):
                need(path + (2, i), f"{full}.{f.name}")
            for i, nested in enumerate(m.nested_type):
                message(nested, path + (3, i), f"{full}.")
            for i, e in enumerate(m.enum_type):
                enum(e, path + (4, i), f"{full}.")
            synthetic = {f.oneof_index for f in m.field if f.proto3_optional}
            for i, o in enumerate(m.oneof_decl):
                if i not in synthetic:  # proto3 `optional` makes hidden one-field oneofs
                    need(path + (8, i), f"{full}.{o.name}")

        for i, m in enumerate(file.message_type):
            message(m, (4, i), "")
        for i, e in enumerate(file.enum_type):
            enum(e, (5, i), "")
        for i, s in enumerate(file.service):
            need((6, i), s.name)
            for j, method in enumerate(s.method):
                need((6, i, 2, j), f"{s.name}.{method.name}")
    return missing


def test_every_message_field_and_rpc_has_a_leading_comment(tmp_path: Path) -> None:
    fds = compile_with_source_info(PROTO_ROOT, tmp_path / "api.pb")
    assert {f.name for f in fds.file} >= {f"taskrouter/gateway/v1/{p.name}" for p in PROTO_DIR.glob("*.proto")}
    assert uncommented_elements(fds) == []


def test_comment_check_reports_each_uncommented_element(tmp_path: Path) -> None:
    root = tmp_path / "protos"
    (root / "x").mkdir(parents=True)
    (root / "x" / "sample.proto").write_text(
        'syntax = "proto3";\npackage x;\n'
        "// Commented.\nmessage Good {\n  // Commented.\n  optional string a = 1;\n  // Commented.\n  map<string, string> m = 2;\n}\n"
        "message Bare {\n  string b = 1;\n  // Commented.\n  oneof choice { string c = 2; }\n}\n"
        "// Commented.\nenum Kind {\n  KIND_UNSPECIFIED = 0;\n}\n"
        "// Commented.\nservice S {\n  rpc Call(Good) returns (Good);\n}\n"
    )
    missing = uncommented_elements(compile_with_source_info(root, tmp_path / "sample.pb"))
    assert missing == [
        "x/sample.proto: Bare",
        "x/sample.proto: Bare.b",
        "x/sample.proto: Bare.c",
        "x/sample.proto: Kind.KIND_UNSPECIFIED",
        "x/sample.proto: S.Call",
    ]


# --- the generation pipeline --------------------------------------------------------------------


def run_script(script: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON": sys.executable}
    return subprocess.run(["bash", str(script), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_generation_is_byte_for_byte_deterministic_and_matches_the_committed_clients(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        result = run_script(ROOT / "scripts" / "gen_protos.sh", str(out), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    generated = tree_bytes(first)
    assert generated == tree_bytes(second)
    assert "python/taskrouter/gateway/v1/worker_service_pb2_grpc.pyi" in generated
    assert "typescript/src/gen/taskrouter/gateway/v1/event_service_pb.ts" in generated
    assert "typescript/src/gen/google/rpc/error_details_pb.ts" in generated
    assert "go/taskrouter/gateway/v1/worker_service_grpc.pb.go" in generated
    assert {"python/taskrouter/gateway/v1/service_config.json", "typescript/src/gen/service_config.ts",
            "go/taskrouter/gateway/v1/service_config.go"} <= set(generated)
    for name, content in generated.items():
        assert str(tmp_path).encode() not in content, f"{name} embeds the output path"
        assert (ROOT / "clients" / name).read_bytes() == content, f"clients/{name} is stale: run ./dev gen"


CONSOLE_BUNDLE = "server/taskrouter_gateway/connect/console_dist"


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """The parts of the repo the proto scripts use, so a test can break them without touching the real tree."""
    copy = tmp_path / "repo"
    for part in ("protos", "scripts", "clients", "third_party", "console", CONSOLE_BUNDLE):
        shutil.copytree(ROOT / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "node_modules").symlink_to(ROOT / "node_modules")
    return copy


def test_check_passes_on_a_clean_tree_and_fails_with_a_diff_on_drift(repo_copy: Path) -> None:
    check = repo_copy / "scripts" / "check_protos.sh"
    clean = run_script(check, cwd=repo_copy.parent)
    assert clean.returncode == 0, clean.stdout + clean.stderr

    stale = repo_copy / "clients" / "python" / "taskrouter" / "gateway" / "v1" / "worker_pb2.pyi"
    stale.write_text(stale.read_text() + "# hand edit\n")
    drift = run_script(check, cwd=repo_copy.parent)
    assert drift.returncode == 1
    assert "-# hand edit" in drift.stderr and "worker_pb2.pyi" in drift.stderr


def test_check_fails_when_the_console_bundle_drifts_from_its_source(repo_copy: Path) -> None:
    # The console is built from console/ (scripts/gen_console.sh): a source edit without ./dev gen is caught.
    page = repo_copy / "console" / "index.html"
    page.write_text(page.read_text().replace("<h1>TaskRouter gateway</h1>", "<h1>Edited</h1>"))
    drift = run_script(repo_copy / "scripts" / "check_protos.sh", cwd=repo_copy.parent)
    assert drift.returncode == 1
    assert "console_dist differs" in drift.stderr and "Edited" in drift.stderr


def test_generation_of_a_new_proto_file_covers_every_language_without_script_edits(repo_copy: Path) -> None:
    (repo_copy / "protos" / "taskrouter" / "gateway" / "v1" / "probe_service.proto").write_text(
        'syntax = "proto3";\npackage taskrouter.gateway.v1;\n'
        "message GetProbeRequest { string sid = 1; }\nmessage Probe { string sid = 1; }\n"
        "service ProbeService {\n"
        "  rpc GetProbe(GetProbeRequest) returns (Probe) { option idempotency_level = NO_SIDE_EFFECTS; }\n"
        "  rpc MakeProbe(GetProbeRequest) returns (Probe);\n}\n"
    )
    result = run_script(repo_copy / "scripts" / "gen_protos.sh", cwd=repo_copy.parent)
    assert result.returncode == 0, result.stderr
    clients = repo_copy / "clients"
    assert (clients / "python/taskrouter/gateway/v1/probe_service_pb2_grpc.py").is_file()
    assert (clients / "typescript/src/gen/taskrouter/gateway/v1/probe_service_pb.ts").is_file()
    assert "package gatewayv1" in (clients / "go/taskrouter/gateway/v1/probe_service_grpc.pb.go").read_text()
    config = json.loads((clients / "python/taskrouter/gateway/v1/service_config.json").read_text())
    names = config["methodConfig"][0]["name"]
    assert {"service": "taskrouter.gateway.v1.ProbeService", "method": "GetProbe"} in names
    assert not any(n["method"] == "MakeProbe" for n in names)


def test_service_config_retries_only_methods_marked_safe_to_repeat() -> None:
    config = json.loads((ROOT / "clients/python/taskrouter/gateway/v1/service_config.json").read_text())
    (only,) = config["methodConfig"]
    methods = {(n["service"].rsplit(".", 1)[1], n["method"]) for n in only["name"]}
    assert ("WorkerService", "GetWorker") in methods and ("WorkerService", "ListWorkers") in methods
    assert ("EventService", "StreamEvents") in methods
    assert not any(m.startswith(("Create", "Update", "Delete", "Backfill", "Configure")) for _, m in methods)
    policy = only["retryPolicy"]
    assert set(policy["retryableStatusCodes"]) == {"UNAVAILABLE", "RESOURCE_EXHAUSTED"}
    assert policy["maxAttempts"] > 1


def test_check_runs_buf_breaking_against_the_previous_commit_on_main(repo_copy: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo_copy, check=True,
                       capture_output=True)

    check = repo_copy / "scripts" / "check_protos.sh"
    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-qm", "first")
    first = run_script(check, cwd=repo_copy)
    assert first.returncode == 0 and "buf breaking skipped" in first.stdout, first.stdout + first.stderr
    proto = repo_copy / "protos" / "taskrouter" / "gateway" / "v1" / "worker_service.proto"
    text = proto.read_text()
    assert "  string etag = 3;\n" in text
    proto.write_text(text.replace("  string etag = 3;\n", "", 1))  # DeleteWorkerRequest loses a field
    git("commit", "-qam", "drop a field")
    broken = run_script(check, cwd=repo_copy)
    assert broken.returncode == 1
    assert "incompatible change" in broken.stderr and "etag" in broken.stdout + broken.stderr


def test_check_fails_on_a_lint_error(repo_copy: Path) -> None:
    proto = repo_copy / "protos" / "taskrouter" / "gateway" / "v1" / "activity.proto"
    proto.write_text(proto.read_text().replace("  // The absolute URL of the Activity resource.\n", ""))
    result = run_script(repo_copy / "scripts" / "check_protos.sh", cwd=repo_copy.parent)
    assert result.returncode != 0
    assert "activity.proto" in result.stdout + result.stderr and '"url"' in result.stdout + result.stderr
