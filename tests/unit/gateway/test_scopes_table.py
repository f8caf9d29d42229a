"""The scope table covers every RPC the protos declare, so a new RPC cannot go unguarded."""

from __future__ import annotations

import importlib
import pathlib

import pytest
from taskrouter.gateway import v1
from taskrouter_gateway.scopes import EVENTS, METHOD_SCOPES, READ, SCOPES, WRITE, scope_for_method_name

PROTOS = pathlib.Path(__file__).resolve().parents[3] / "protos" / "taskrouter" / "gateway" / "v1"


def declared_methods() -> set[str]:
    """Every '/package.Service/Method' in the .proto files, read from the loaded descriptors."""
    found: set[str] = set()
    for proto in sorted(PROTOS.glob("*.proto")):
        module = importlib.import_module(f"{v1.__name__}.{proto.stem}_pb2")
        for service in module.DESCRIPTOR.services_by_name.values():
            found.update(f"/{service.full_name}/{method.name}" for method in service.methods)
    return found


def test_every_declared_rpc_has_exactly_one_scope():
    declared = declared_methods()
    assert len(declared) >= 21
    assert declared == set(METHOD_SCOPES), {
        "missing": sorted(declared - set(METHOD_SCOPES)), "stale": sorted(set(METHOD_SCOPES) - declared)
    }
    assert set(METHOD_SCOPES.values()) <= SCOPES


# Every RPC a `read` caller may call, written out: a new read RPC must be added here by hand, and a write RPC
# whose name merely starts like a read (GetOrCreate…, Listen…) fails the equality below.
READ_RPCS = {
    "ActivityService/GetActivity",
    "ActivityService/ListActivities",
    "CallEventService/ListCallEvents",
    "EventService/GetEvent",
    "EventService/ListEvents",
    "ReservationService/GetReservation",
    "ReservationService/ListReservations",
    "StatisticsService/BatchGetTaskQueueRealTimeStatistics",
    "StatisticsService/GetTaskQueueCumulativeStatistics",
    "StatisticsService/GetTaskQueueRealTimeStatistics",
    "StatisticsService/GetTaskQueueStatistics",
    "StatisticsService/GetWorkerInstanceStatistics",
    "StatisticsService/GetWorkerStatistics",
    "StatisticsService/GetWorkersCumulativeStatistics",
    "StatisticsService/GetWorkersRealTimeStatistics",
    "StatisticsService/GetWorkflowCumulativeStatistics",
    "StatisticsService/GetWorkflowRealTimeStatistics",
    "StatisticsService/GetWorkflowStatistics",
    "StatisticsService/GetWorkspaceCumulativeStatistics",
    "StatisticsService/GetWorkspaceRealTimeStatistics",
    "StatisticsService/GetWorkspaceStatistics",
    "StatisticsService/ListTaskQueuesStatistics",
    "TaskChannelService/GetTaskChannel",
    "TaskChannelService/ListTaskChannels",
    "TaskQueueService/GetTaskQueue",
    "TaskQueueService/ListTaskQueues",
    "TaskService/GetTask",
    "TaskService/ListTasks",
    "WorkerService/GetWorker",
    "WorkerService/GetWorkerChannel",
    "WorkerService/ListWorkerChannels",
    "WorkerService/ListWorkers",
    "WorkflowService/GetWorkflow",
    "WorkflowService/ListWorkflows",
    "WorkspaceService/GetWorkspace",
    "WorkspaceService/ListWorkspaces",
}


def test_the_read_rpcs_are_exactly_the_listed_ones():
    prefix = "/taskrouter.gateway.v1."
    reads = {method.removeprefix(prefix) for method, scope in METHOD_SCOPES.items() if scope == READ}
    assert reads == READ_RPCS, {"unlisted reads": sorted(reads - READ_RPCS), "not reads": sorted(READ_RPCS - reads)}
    assert {m for m, scope in METHOD_SCOPES.items() if scope == EVENTS} == {prefix + "EventService/StreamEvents"}
    assert all(scope == WRITE for m, scope in METHOD_SCOPES.items() if m.removeprefix(prefix) not in READ_RPCS
               and not m.endswith("/StreamEvents"))


@pytest.mark.parametrize(
    ("name", "scope"),
    [
        ("Get", READ),
        ("GetWorker", READ),
        ("ListTasks", READ),
        ("BatchGetTaskQueueRealTimeStatistics", READ),
        ("GetOrder", READ),  # "Or" starts the noun here, not a second verb
        ("GetOrCreateWorker", WRITE),
        ("ListAndDeleteTasks", WRITE),
        ("BatchGetOrCreateQueues", WRITE),
        ("ListenEvents", WRITE),
        ("Getaway", WRITE),
        ("Lists", WRITE),
        ("Get2Workers", WRITE),
        ("Batch", WRITE),
        ("BatchUpdateTasks", WRITE),
        ("StreamEvents", EVENTS),
        ("StreamEventsAgain", WRITE),
        ("CreateWorker", WRITE),
    ],
)
def test_a_read_verb_counts_only_as_a_whole_word(name, scope):
    assert scope_for_method_name(name) == scope
