"""EventFilter: which StreamEvents patterns and SIDs are accepted, and what they match."""

from __future__ import annotations

import pytest

from taskrouter.gateway.v1 import event_pb2, event_service_pb2
from taskrouter_gateway.stream.filters import SID_FILTERS, EventFilter, EventRefs
from taskrouter_gateway.validation import InvalidArgument

WS = "WS" + "a" * 32
WS_OTHER = "WS" + "b" * 32
SIDS = {
    "worker_sid": "WK" + "1" * 32,
    "task_sid": "WT" + "2" * 32,
    "task_queue_sid": "WQ" + "3" * 32,
    "workflow_sid": "WW" + "4" * 32,
    "reservation_sid": "WR" + "5" * 32,
}


def _request(**fields) -> event_service_pb2.StreamEventsRequest:
    fields.setdefault("workspace_sid", WS)
    return event_service_pb2.StreamEventsRequest(**fields)


def _violations(**fields) -> list[tuple[str, str]]:
    with pytest.raises(InvalidArgument) as caught:
        EventFilter.from_request(_request(**fields))
    return caught.value.violations


def _refs(event_type: str = "worker.created", workspace_sid: str = WS, **sids: str) -> EventRefs:
    return EventRefs(workspace_sid=workspace_sid, event_type=event_type, **sids)


# -- event type patterns --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern",
    [
        "worker.created",
        "worker.activity.update",
        "task-queue.expression.updated",
        "task.transfer-attempt-failed",
        "workflow.target-matched",
        "worker.*",
        "reservation.*",
        "task-queue.*",
        "worker.channel.*",
        "*",
    ],
)
def test_accepted_event_type_patterns(pattern):
    EventFilter.from_request(_request(event_types=[pattern]))


@pytest.mark.parametrize(
    "pattern",
    ["wor*er", "*.created", "worker.", "", " worker.created", "worker.created ", "worker created", "**",
     "worker.**", ".worker", "worker..created", "worker*", "worker.*.update", "Worker.Created", "worker.-x",
     "x" * 129],
)
def test_rejected_event_type_patterns_name_the_field(pattern):
    violations = _violations(event_types=["worker.created", pattern])
    assert [field for field, _ in violations] == ["event_types"]
    assert violations[0][1].startswith("[1] ")  # names the offending entry's index


def test_every_bad_pattern_is_reported_at_once():
    violations = _violations(event_types=["wor*er", "task.created", "*.created"])
    assert [d.split(" ", 1)[0] for _, d in violations] == ["[0]", "[2]"]


def test_too_many_patterns_is_rejected():
    violations = _violations(event_types=[f"worker.t{i}" for i in range(101)])
    assert violations == [("event_types", "at most 100 patterns, got 101")]


def test_exact_type_matches_only_itself():
    flt = EventFilter.from_request(_request(event_types=["worker.created"]))
    assert flt.matches(_refs("worker.created"))
    assert not flt.matches(_refs("worker.created.extra"))
    assert not flt.matches(_refs("worker.deleted"))


def test_prefix_wildcard_matches_below_its_prefix_only():
    flt = EventFilter.from_request(_request(event_types=["task.*"]))
    assert flt.matches(_refs("task.created"))
    assert flt.matches(_refs("task.transfer-failed"))
    assert not flt.matches(_refs("task-queue.created"))  # same leading letters, different segment
    assert not flt.matches(_refs("task"))


def test_multi_level_wildcard():
    flt = EventFilter.from_request(_request(event_types=["worker.channel.*"]))
    assert flt.matches(_refs("worker.channel.availability.update"))
    assert not flt.matches(_refs("worker.capacity.update"))


def test_patterns_are_ored():
    flt = EventFilter.from_request(_request(event_types=["reservation.*", "worker.created"]))
    assert flt.matches(_refs("reservation.accepted"))
    assert flt.matches(_refs("worker.created"))
    assert not flt.matches(_refs("worker.deleted"))


@pytest.mark.parametrize("types", [[], ["*"], ["worker.created", "*"]])
def test_no_types_or_star_matches_every_type(types):
    flt = EventFilter.from_request(_request(event_types=types))
    assert flt.all_types
    assert flt.matches(_refs("anything.at.all"))


# -- workspace and SIDs -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", "WK" + "a" * 32, "WS" + "a" * 31, "WS" + "g" * 32, "ws" + "a" * 32])
def test_workspace_sid_is_required_and_checked(value):
    violations = _violations(workspace_sid=value)
    assert [f for f, _ in violations] == ["workspace_sid"]


def test_workspace_isolation():
    flt = EventFilter.from_request(_request())
    assert flt.matches(_refs(workspace_sid=WS))
    assert not flt.matches(_refs(workspace_sid=WS_OTHER))


@pytest.mark.parametrize("field,prefix", SID_FILTERS)
def test_each_sid_filter_is_validated_with_its_prefix(field, prefix):
    good = prefix + "c" * 32
    EventFilter.from_request(_request(**{field: good}))
    wrong_prefix = ("WK" if prefix != "WK" else "WT") + "c" * 32
    for bad in (wrong_prefix, prefix + "c" * 31, prefix + "z" * 32, prefix):
        violations = _violations(**{field: bad})
        assert violations == [(field, f"must be a {prefix} SID: {prefix} followed by 32 hex digits")], bad


@pytest.mark.parametrize("field", list(SIDS))
def test_each_sid_filter_matches_only_that_sid(field):
    flt = EventFilter.from_request(_request(**{field: SIDS[field]}))
    assert flt.matches(_refs(**{field: SIDS[field]}))
    assert not flt.matches(_refs(**{field: SIDS[field][:-1] + "9"}))
    assert not flt.matches(_refs())  # the event does not carry that SID at all


def test_resource_sid_accepts_any_sid_kind():
    for sid in ("WT" + "a" * 32, "WK" + "a" * 32, "WR" + "a" * 32, "WA" + "a" * 32):
        flt = EventFilter.from_request(_request(resource_sid=sid))
        assert flt.matches(_refs(resource_sid=sid))
        assert not flt.matches(_refs(resource_sid="WT" + "f" * 32))


@pytest.mark.parametrize("bad", ["task", "wt" + "a" * 32, "WT" + "a" * 33, "W1" + "a" * 32])
def test_resource_sid_is_checked(bad):
    assert [f for f, _ in _violations(resource_sid=bad)] == ["resource_sid"]


def test_all_filters_are_anded():
    flt = EventFilter.from_request(
        _request(event_types=["reservation.*"], worker_sid=SIDS["worker_sid"], task_sid=SIDS["task_sid"])
    )
    both = dict(worker_sid=SIDS["worker_sid"], task_sid=SIDS["task_sid"])
    assert flt.matches(_refs("reservation.created", **both))
    assert not flt.matches(_refs("task.created", **both))
    assert not flt.matches(_refs("reservation.created", worker_sid=SIDS["worker_sid"]))


def test_all_violations_of_a_request_are_collected():
    violations = _violations(workspace_sid="", event_types=["*.x"], worker_sid="bad", task_sid="bad")
    assert [f for f, _ in violations] == ["workspace_sid", "event_types", "worker_sid", "task_sid"]


# -- refs from an Event -----------------------------------------------------------------------------


def test_refs_come_from_the_typed_sub_messages():
    event = event_pb2.Event(
        workspace_sid=WS,
        event_type="reservation.created",
        resource_sid="WR" + "5" * 32,
        worker=event_pb2.WorkerData(worker_sid=SIDS["worker_sid"]),
        task=event_pb2.TaskData(task_sid=SIDS["task_sid"]),
        task_queue=event_pb2.TaskQueueData(task_queue_sid=SIDS["task_queue_sid"]),
        workflow=event_pb2.WorkflowData(workflow_sid=SIDS["workflow_sid"]),
        reservation=event_pb2.ReservationData(reservation_sid=SIDS["reservation_sid"]),
    )
    assert EventRefs.from_event(event) == EventRefs(
        workspace_sid=WS, event_type="reservation.created", resource_sid="WR" + "5" * 32, **SIDS
    )


def test_refs_fall_back_to_the_workspace_sub_message():
    event = event_pb2.Event(event_type="worker.created", workspace=event_pb2.WorkspaceData(workspace_sid=WS))
    refs = EventRefs.from_event(event)
    assert refs.workspace_sid == WS and refs.worker_sid == "" and refs.task_sid == ""
