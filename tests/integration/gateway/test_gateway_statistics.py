"""StatisticsService over a real gRPC channel against the emulator: each RPC's typed answer carries the same
figures as the emulator's JSON for the same request; bad input is INVALID_ARGUMENT naming the field; the
read-only bulk POST is retried on 429 within the deadline (a plain POST is not: test_gateway_upstream_faults)."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from google.protobuf import json_format, timestamp_pb2

from taskrouter.gateway.v1 import statistics_service_pb2 as s
from taskrouter.gateway.v1 import statistics_service_pb2_grpc
from taskrouter_gateway.errors import error_info_from


async def _ok(http, method: str, path: str, **kwargs: Any) -> Any:
    async with http.request(method, path, **kwargs) as resp:
        assert resp.status in (200, 201), (path, resp.status, await resp.text())
        return await resp.json()


class Centre:
    """A workspace on virtual time with one queue, a workflow, two workers, an accepted task and a waiting one."""

    async def build(self, http) -> Centre:
        self.http = http
        await _ok(http, "POST", "/admin/clock", json={"virtual": True})
        ws = await _ok(http, "POST", "/v1/Workspaces", data={"FriendlyName": "Stats"})
        self.ws = ws["sid"]
        base = self.base = f"/v1/Workspaces/{self.ws}"
        acts = {a["friendly_name"]: a["sid"] for a in (await _ok(http, "GET", f"{base}/Activities"))["activities"]}
        self.queue = (await _ok(http, "POST", f"{base}/TaskQueues", data={"FriendlyName": "Q"}))["sid"]
        config = {"task_routing": {"filters": [], "default_filter": {"queue": self.queue}}}
        self.workflow = (await _ok(http, "POST", f"{base}/Workflows",
                                   data={"FriendlyName": "W", "Configuration": json.dumps(config)}))["sid"]
        self.worker = (await _ok(http, "POST", f"{base}/Workers",
                                 data={"FriendlyName": "ann", "ActivitySid": acts["Available"]}))["sid"]
        await _ok(http, "POST", f"{base}/Workers", data={"FriendlyName": "bob"})
        task = (await _ok(http, "POST", f"{base}/Tasks", data={"WorkflowSid": self.workflow, "Priority": "4"}))["sid"]
        await _ok(http, "POST", "/admin/clock/advance", json={"seconds": 7})
        res = (await _ok(http, "GET", f"{base}/Tasks/{task}/Reservations"))["reservations"][0]
        await _ok(http, "POST", f"{base}/Tasks/{task}/Reservations/{res['sid']}",
                  data={"ReservationStatus": "accepted"})
        await _ok(http, "POST", f"{base}/Tasks", data={"WorkflowSid": self.workflow, "TaskChannel": "voice"})
        await _ok(http, "POST", "/admin/clock/advance", json={"seconds": 3})
        return self

    async def rest(self, path: str, **params: Any) -> Any:
        return await _ok(self.http, "GET", self.base + path, params=params)


@pytest.fixture
async def centre(emulator_http) -> Centre:
    return await Centre().build(emulator_http)


@pytest.fixture
def stats(channel) -> statistics_service_pb2_grpc.StatisticsServiceStub:
    return statistics_service_pb2_grpc.StatisticsServiceStub(channel)


def _as_json(message) -> dict:
    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)


async def test_workspace_statistics_are_typed_and_match_the_emulator(stats, centre):
    got = await stats.GetWorkspaceStatistics(s.GetWorkspaceStatisticsRequest(
        workspace_sid=centre.ws, minutes=60, split_by_wait_time=[5, 10]))
    rest = await centre.rest("/Statistics", Minutes=60, SplitByWaitTime="5,10")
    assert got.cumulative.reservations_accepted == rest["cumulative"]["reservations_accepted"] == 1
    assert (got.cumulative.wait_duration_until_accepted.total
            == rest["cumulative"]["wait_duration_until_accepted"]["total"] == 7)
    assert [(x.threshold, x.below.reservations_accepted, x.above.reservations_accepted)
            for x in got.cumulative.split_by_wait_time] == [(5, 0, 1), (10, 1, 0)]
    assert got.realtime.tasks_by_status.assigned == rest["realtime"]["tasks_by_status"]["assigned"] == 1
    assert dict(got.realtime.tasks_by_priority) == {int(k): v for k, v in rest["realtime"]["tasks_by_priority"].items()}
    assert got.realtime.longest_task_waiting_sid == rest["realtime"]["longest_task_waiting_sid"]
    assert got.url == rest["url"]
    assert got.cumulative.start_time.ToJsonString().replace(".000", "") == rest["cumulative"]["start_time"]

    cumulative = await stats.GetWorkspaceCumulativeStatistics(s.GetWorkspaceCumulativeStatisticsRequest(
        workspace_sid=centre.ws, task_channel="voice"))
    rest = await centre.rest("/CumulativeStatistics", TaskChannel="voice")
    assert cumulative.tasks_created == rest["tasks_created"] == 1
    realtime = await stats.GetWorkspaceRealTimeStatistics(
        s.GetWorkspaceRealTimeStatisticsRequest(workspace_sid=centre.ws))
    rest = await centre.rest("/RealTimeStatistics")
    assert [(a.sid, a.friendly_name, a.workers) for a in realtime.activity_statistics] == [
        (a["sid"], a["friendly_name"], a["workers"]) for a in rest["activity_statistics"]]
    assert realtime.total_workers == rest["total_workers"] == 2


async def test_task_queue_statistics_single_list_and_bulk(stats, centre):
    got = await stats.GetTaskQueueStatistics(s.GetTaskQueueStatisticsRequest(
        workspace_sid=centre.ws, task_queue_sid=centre.queue))
    rest = await centre.rest(f"/TaskQueues/{centre.queue}/Statistics")
    assert got.realtime.total_eligible_workers == rest["realtime"]["total_eligible_workers"] == 2
    assert (got.realtime.longest_relative_task_age_in_queue
            == rest["realtime"]["longest_relative_task_age_in_queue"] == 3)
    assert got.cumulative.tasks_entered == rest["cumulative"]["tasks_entered"] == 2

    cumulative = await stats.GetTaskQueueCumulativeStatistics(s.GetTaskQueueCumulativeStatisticsRequest(
        workspace_sid=centre.ws, task_queue_sid=centre.queue, minutes=5))
    rest = await centre.rest(f"/TaskQueues/{centre.queue}/CumulativeStatistics", Minutes=5)
    assert _as_json(cumulative.wait_duration_in_queue_until_accepted) == rest["wait_duration_in_queue_until_accepted"]
    realtime = await stats.GetTaskQueueRealTimeStatistics(s.GetTaskQueueRealTimeStatisticsRequest(
        workspace_sid=centre.ws, task_queue_sid=centre.queue, task_channel="voice"))
    assert realtime.total_tasks == (await centre.rest(
        f"/TaskQueues/{centre.queue}/RealTimeStatistics", TaskChannel="voice"))["total_tasks"] == 1

    page = await stats.ListTaskQueuesStatistics(s.ListTaskQueuesStatisticsRequest(workspace_sid=centre.ws, page_size=1))
    assert [q.task_queue_sid for q in page.task_queues_statistics] == [centre.queue]
    rest = (await centre.rest("/TaskQueues/Statistics", PageSize=1))["task_queues_statistics"][0]
    assert _as_json(page.task_queues_statistics[0].realtime.tasks_by_status) == {
        "completed": 0, "canceled": 0, **rest["realtime"]["tasks_by_status"]}

    bulk = await stats.BatchGetTaskQueueRealTimeStatistics(s.BatchGetTaskQueueRealTimeStatisticsRequest(
        workspace_sid=centre.ws, task_queue_sids=[centre.queue, centre.queue]))
    assert bulk.task_queue_response_count == 2
    assert [d.task_queue_sid for d in bulk.task_queue_data] == [centre.queue] * 2
    assert bulk.task_queue_data[0].tasks_by_status.assigned == 1


async def test_worker_and_workflow_statistics(stats, centre):
    one = await stats.GetWorkerInstanceStatistics(s.GetWorkerInstanceStatisticsRequest(
        workspace_sid=centre.ws, worker_sid=centre.worker))
    rest = await centre.rest(f"/Workers/{centre.worker}/Statistics")
    assert one.cumulative.reservations_accepted == rest["cumulative"]["reservations_accepted"] == 1
    assert [_as_json(d) for d in one.cumulative.activity_durations] == rest["cumulative"]["activity_durations"]

    everyone = await stats.GetWorkerStatistics(s.GetWorkerStatisticsRequest(
        workspace_sid=centre.ws, task_queue_sid=centre.queue, friendly_name="ann"))
    rest = await centre.rest("/Workers/Statistics", TaskQueueSid=centre.queue, FriendlyName="ann")
    assert everyone.realtime.total_workers == rest["realtime"]["total_workers"] == 1
    cumulative = await stats.GetWorkersCumulativeStatistics(
        s.GetWorkersCumulativeStatisticsRequest(workspace_sid=centre.ws))
    rest = await centre.rest("/Workers/CumulativeStatistics")
    assert cumulative.reservations_created == rest["reservations_created"] == 2
    realtime = await stats.GetWorkersRealTimeStatistics(s.GetWorkersRealTimeStatisticsRequest(workspace_sid=centre.ws))
    assert realtime.total_workers == 2

    start = timestamp_pb2.Timestamp()
    start.FromSeconds(int((await _ok(centre.http, "GET", "/admin/clock"))["now"]) - 3600)
    flow = await stats.GetWorkflowStatistics(s.GetWorkflowStatisticsRequest(
        workspace_sid=centre.ws, workflow_sid=centre.workflow, start_date=start))
    rest = await centre.rest(f"/Workflows/{centre.workflow}/Statistics", StartDate=start.ToJsonString())
    assert flow.cumulative.tasks_entered == rest["cumulative"]["tasks_entered"] == 2
    assert flow.cumulative.avg_task_acceptance_time == rest["cumulative"]["avg_task_acceptance_time"] == 7
    assert flow.realtime.total_tasks == rest["realtime"]["total_tasks"] == 2
    cumulative = await stats.GetWorkflowCumulativeStatistics(s.GetWorkflowCumulativeStatisticsRequest(
        workspace_sid=centre.ws, workflow_sid=centre.workflow))
    rest = await centre.rest(f"/Workflows/{centre.workflow}/CumulativeStatistics")
    assert cumulative.reservations_created == rest["reservations_created"] == 2
    realtime = await stats.GetWorkflowRealTimeStatistics(s.GetWorkflowRealTimeStatisticsRequest(
        workspace_sid=centre.ws, workflow_sid=centre.workflow))
    rest = await centre.rest(f"/Workflows/{centre.workflow}/RealTimeStatistics")
    assert realtime.tasks_by_status.reserved == rest["tasks_by_status"]["reserved"] == 1


@pytest.mark.parametrize(("request_message", "method", "field"), [
    (s.GetWorkspaceStatisticsRequest(workspace_sid="nope"), "GetWorkspaceStatistics", "workspace_sid"),
    (s.GetWorkspaceStatisticsRequest(workspace_sid="WS" + "0" * 32, minutes=0), "GetWorkspaceStatistics", "minutes"),
    (s.GetWorkspaceStatisticsRequest(workspace_sid="WS" + "0" * 32, minutes=43_201), "GetWorkspaceStatistics",
     "minutes"),
    # Twilio's Worker Statistics page: Minutes "cannot be used in combination with StartDate and EndDate".
    (s.GetWorkerStatisticsRequest(workspace_sid="WS" + "0" * 32, minutes=60, start_date=timestamp_pb2.Timestamp(seconds=1)),
     "GetWorkerStatistics", "minutes"),
    (s.GetWorkspaceCumulativeStatisticsRequest(workspace_sid="WS" + "0" * 32, minutes=60,
                                               end_date=timestamp_pb2.Timestamp(seconds=1)),
     "GetWorkspaceCumulativeStatistics", "minutes"),
    (s.GetTaskQueueCumulativeStatisticsRequest(workspace_sid="WS" + "0" * 32, task_queue_sid="WQ" + "0" * 32,
                                               split_by_wait_time=[5, 0]),
     "GetTaskQueueCumulativeStatistics", "split_by_wait_time[1]"),
    (s.GetWorkflowRealTimeStatisticsRequest(workspace_sid="WS" + "0" * 32), "GetWorkflowRealTimeStatistics",
     "workflow_sid"),
    (s.BatchGetTaskQueueRealTimeStatisticsRequest(workspace_sid="WS" + "0" * 32,
                                                  task_queue_sids=["WQ" + "1" * 32] * 51),
     "BatchGetTaskQueueRealTimeStatistics", "task_queue_sids"),
    (s.GetWorkerStatisticsRequest(workspace_sid="WS" + "0" * 32, task_queue_sid="WK" + "0" * 32),
     "GetWorkerStatistics", "task_queue_sid"),
])
async def test_bad_input_is_invalid_argument_naming_the_field(stats, request_message, method, field):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await getattr(stats, method)(request_message, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, bad_request = error_info_from(caught.value)
    assert bad_request is not None and field in [v.field for v in bad_request.field_violations]


async def test_unknown_task_channel_is_invalid_argument_from_twilio(stats, centre):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stats.GetWorkspaceRealTimeStatistics(s.GetWorkspaceRealTimeStatisticsRequest(
            workspace_sid=centre.ws, task_channel="pigeon"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_bulk_post_is_retried_on_429_like_a_get(stats, centre, emulator_admin):
    await emulator_admin.add_rest_fault(path=f"{centre.base}/TaskQueues/RealTimeStatistics", match="exact",
                                        method="POST", status=429, retry_after=0, count=2)
    before = await emulator_admin.requests_seen()
    got = await stats.BatchGetTaskQueueRealTimeStatistics(s.BatchGetTaskQueueRealTimeStatisticsRequest(
        workspace_sid=centre.ws, task_queue_sids=[centre.queue]), timeout=10)
    assert got.task_queue_response_count == 1
    assert await emulator_admin.requests_seen() - before == 3  # two 429s, then the answer
