"""translate/statistics.py: requests become the REST calls Twilio documents; Twilio's statistics JSON (counts as
strings, averages as floats, the {"<seconds>": ...} split, string priority keys) becomes typed messages."""

from __future__ import annotations

import pytest
from google.protobuf import timestamp_pb2

from taskrouter.gateway.v1 import statistics_pb2 as st
from taskrouter.gateway.v1 import statistics_service_pb2 as svc
from taskrouter_gateway.translate import statistics as tr
from taskrouter_gateway.upstream.retry import RetryPolicy
from taskrouter_gateway.validation import InvalidArgument

WS = "WS" + "a" * 32
WQ = "WQ" + "b" * 32


def test_window_parameters_use_twilio_names():
    start = timestamp_pb2.Timestamp(seconds=1_700_000_000)
    end = timestamp_pb2.Timestamp(seconds=1_700_000_600, nanos=1)
    call = tr.get_call(svc.GetTaskQueueCumulativeStatisticsRequest(
        workspace_sid=WS, task_queue_sid=WQ, minutes=30, start_date=start, end_date=end, task_channel="voice",
        split_by_wait_time=[5, 30]))
    assert (call.method, call.path) == ("GET", f"/v1/Workspaces/{WS}/TaskQueues/{WQ}/CumulativeStatistics")
    assert call.query == {"Minutes": 30, "StartDate": "2023-11-14T22:13:20Z", "EndDate": "2023-11-14T22:23:21Z",
                          "TaskChannel": "voice", "SplitByWaitTime": "5,30"}
    assert tr.get_call(svc.GetWorkspaceStatisticsRequest(workspace_sid=WS)).query == {}


def test_a_timestamp_out_of_range_names_its_field():
    with pytest.raises(InvalidArgument) as caught:
        tr.get_call(svc.GetWorkspaceStatisticsRequest(
            workspace_sid=WS, start_date=timestamp_pb2.Timestamp(seconds=-10**12)))
    assert caught.value.violations[0][0] == "start_date"


def test_the_bulk_call_is_a_read_only_json_post():
    call = tr.task_queues_bulk_call(svc.BatchGetTaskQueueRealTimeStatisticsRequest(workspace_sid=WS,
                                                                                  task_queue_sids=[WQ, WQ]))
    assert (call.method, call.json, call.read_only) == ("POST", {"QueueSids": [WQ, WQ]}, True)
    policy = RetryPolicy()
    assert policy.retryable("POST", 429, read_only=True)
    assert not policy.retryable("POST", 429)
    assert not policy.retryable("POST", 400, read_only=True)


def test_twilio_shapes_become_typed_fields():
    body = {
        "url": "https://taskrouter.twilio.com/v1/Workspaces/WS/Statistics",
        "cumulative": {
            "avg_task_acceptance_time": 12.6, "reservations_accepted": "4", "start_time": "2015-07-30T20:00:00Z",
            "wait_duration_until_accepted": {"avg": 1.4, "min": 0, "max": "9", "total": 20},
            "split_by_wait_time": {"10": {"above": {"tasks_canceled": 1, "reservations_accepted": 2},
                                          "below": {"tasks_canceled": 3, "reservations_accepted": "4"}},
                                   "5": {"above": {}, "below": None}},
        },
        "realtime": {
            "tasks_by_priority": {"0": "10", "99": 5}, "tasks_by_status": {"pending": "1", "completed": 5},
            "activity_statistics": [{"sid": "WA1", "friendly_name": "Idle", "workers": "3"}],
            "longest_task_waiting_sid": None, "total_workers": True,
        },
    }
    got = tr.fill(st.WorkspaceStatistics(), body)
    assert got.cumulative.avg_task_acceptance_time == 13
    assert got.cumulative.reservations_accepted == 4
    assert got.cumulative.start_time.seconds == 1438286400
    assert (got.cumulative.wait_duration_until_accepted.avg, got.cumulative.wait_duration_until_accepted.max) == (1, 9)
    assert [(s.threshold, s.below.reservations_accepted, s.above.tasks_canceled)
            for s in got.cumulative.split_by_wait_time] == [(5, 0, 0), (10, 4, 1)]
    assert dict(got.realtime.tasks_by_priority) == {0: 10, 99: 5}
    assert (got.realtime.tasks_by_status.pending, got.realtime.tasks_by_status.completed) == (1, 5)
    assert [(a.sid, a.workers) for a in got.realtime.activity_statistics] == [("WA1", 3)]
    assert got.realtime.longest_task_waiting_sid == "" and got.realtime.total_workers == 0
    assert got.url.endswith("/Statistics")


def test_garbage_where_an_object_belongs_is_ignored():
    got = tr.fill(st.TaskQueueRealTimeStatistics(), {"tasks_by_status": "x", "activity_statistics": {"a": 1},
                                                      "tasks_by_priority": [1], "total_tasks": "many"})
    assert got == st.TaskQueueRealTimeStatistics()


def test_every_single_statistics_rpc_has_its_rest_path():
    service = svc.DESCRIPTOR.services_by_name["StatisticsService"]
    paths = set()
    for method in service.methods:
        if method.name in ("ListTaskQueuesStatistics", "BatchGetTaskQueueRealTimeStatistics"):
            continue
        request = getattr(svc, method.input_type.name)(workspace_sid=WS)
        for field, sid in (("task_queue_sid", WQ), ("worker_sid", "WK1"), ("workflow_sid", "WW1")):
            if field in request.DESCRIPTOR.fields_by_name:
                setattr(request, field, sid)
        call = tr.get_call(request)
        assert call.method == "GET" and call.path.startswith(f"/v1/Workspaces/{WS}/"), method.name
        assert call.path.endswith("Statistics") and "{" not in call.path
        paths.add(call.path)
    assert len(paths) == 13
