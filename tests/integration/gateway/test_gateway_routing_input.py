"""Bad input to the routing RPCs: INVALID_ARGUMENT naming the field before any upstream call, and hostile
strings never surface as UNKNOWN, INTERNAL or UNAVAILABLE (a crash or a 5xx) whatever field they land in."""

from __future__ import annotations

import grpc
import pytest

from taskrouter.gateway.v1 import (
    reservation_service_pb2 as r,
    reservation_service_pb2_grpc,
    task_channel_service_pb2 as tc,
    task_channel_service_pb2_grpc,
    task_queue_service_pb2 as q,
    task_queue_service_pb2_grpc,
    task_service_pb2 as t,
    task_service_pb2_grpc,
    worker_service_pb2 as w,
    worker_service_pb2_grpc,
    workflow_pb2,
    workflow_service_pb2 as wf,
    workflow_service_pb2_grpc,
)
from taskrouter_gateway.errors import error_info_from

WS = "WS" + "0" * 31 + "1"
HOSTILE = ["..", "../..", "a/b", "a?b=c", "a#b", "%2F", "\x00", "é" * 70, " ", "WT" + "g" * 32, "{}" * 40]
BROKEN = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE}


def stubs(channel):
    return (
        task_service_pb2_grpc.TaskServiceStub(channel),
        task_queue_service_pb2_grpc.TaskQueueServiceStub(channel),
        workflow_service_pb2_grpc.WorkflowServiceStub(channel),
        task_channel_service_pb2_grpc.TaskChannelServiceStub(channel),
        reservation_service_pb2_grpc.ReservationServiceStub(channel),
        worker_service_pb2_grpc.WorkerServiceStub(channel),
    )


async def fields_of(call) -> set[str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value
    _, bad_request = error_info_from(caught.value)
    assert bad_request is not None
    return {v.field for v in bad_request.field_violations}


async def test_each_rpc_names_the_bad_fields(channel, emulator_admin):
    tasks, queues, workflows, channels, reservations, workers = stubs(channel)
    before = await emulator_admin.requests_seen()
    assert await fields_of(tasks.GetTask(t.GetTaskRequest())) == {"workspace_sid", "sid"}
    assert await fields_of(tasks.CreateTask(t.CreateTaskRequest(workspace_sid=WS, attributes="[1]", priority=-1,
                                                               timeout=0))) == {"attributes", "priority", "timeout"}
    assert await fields_of(tasks.UpdateTask(t.UpdateTaskRequest(
        workspace_sid=WS, sid="WT" + "1" * 32, attributes="", assignment_status=1))) == {
        "attributes", "assignment_status"}
    assert await fields_of(tasks.ListTasks(t.ListTasksRequest(workspace_sid=WS, page_size=5000,
                                                             workflow_sid="nope"))) == {"page_size", "workflow_sid"}
    assert await fields_of(queues.CreateTaskQueue(q.CreateTaskQueueRequest(
        workspace_sid=WS, max_reserved_workers=0, reservation_activity_sid="WQ" + "1" * 32))) == {
        "friendly_name", "max_reserved_workers", "reservation_activity_sid"}
    assert await fields_of(workflows.CreateWorkflow(wf.CreateWorkflowRequest(
        workspace_sid=WS, friendly_name="x", assignment_callback_url="ftp://x", task_reservation_timeout=0))) == {
        "configuration", "assignment_callback_url", "task_reservation_timeout"}
    assert await fields_of(workflows.CreateWorkflow(wf.CreateWorkflowRequest(
        workspace_sid=WS, friendly_name="x", task_routing=workflow_pb2.TaskRouting(
            filters=[workflow_pb2.WorkflowFilter(targets=[workflow_pb2.WorkflowTarget(queue="bad")])])))) == {
        "task_routing.filters[0].expression", "task_routing.filters[0].targets[0].queue"}
    assert await fields_of(channels.CreateTaskChannel(tc.CreateTaskChannelRequest(workspace_sid=WS))) == {
        "friendly_name", "unique_name"}
    assert await fields_of(reservations.ListReservations(r.ListReservationsRequest(
        workspace_sid=WS, worker_sid="WK" + "1" * 32, filter_worker_sid="WK" + "2" * 32))) == {"filter_worker_sid"}
    assert await fields_of(reservations.UpdateReservation(r.UpdateReservationRequest(
        workspace_sid=WS, task_sid="WT" + "1" * 32, sid="WR" + "1" * 32,
        redirect=r.RedirectInstruction(call_sid="nope", url="x")))) == {"redirect.call_sid", "redirect.url"}
    assert await fields_of(workers.UpdateWorkerChannel(w.UpdateWorkerChannelRequest(
        workspace_sid=WS, worker_sid="WK" + "1" * 32, sid="chat", capacity=51))) == {"capacity"}
    assert await emulator_admin.requests_seen() == before  # refused before any upstream call


async def test_hostile_strings_never_break_the_gateway(channel):
    tasks, queues, workflows, channels, reservations, workers = stubs(channel)
    for text in HOSTILE:
        calls = [
            tasks.GetTask(t.GetTaskRequest(workspace_sid=WS, sid=text)),
            tasks.CreateTask(t.CreateTaskRequest(workspace_sid=WS, attributes=text, task_channel=text)),
            tasks.ListTasks(t.ListTasksRequest(workspace_sid=WS, evaluate_task_attributes=text, ordering=text,
                                               workflow_name=text)),
            queues.CreateTaskQueue(q.CreateTaskQueueRequest(workspace_sid=WS, friendly_name=text,
                                                            target_workers=text)),
            queues.ListTaskQueues(q.ListTaskQueuesRequest(workspace_sid=WS, evaluate_worker_attributes=text,
                                                          ordering=text)),
            workflows.CreateWorkflow(wf.CreateWorkflowRequest(workspace_sid=WS, friendly_name="x",
                                                              configuration=text)),
            channels.GetTaskChannel(tc.GetTaskChannelRequest(workspace_sid=WS, sid=text)),
            channels.CreateTaskChannel(tc.CreateTaskChannelRequest(workspace_sid=WS, friendly_name=text,
                                                                   unique_name=text)),
            workers.GetWorkerChannel(w.GetWorkerChannelRequest(workspace_sid=WS, worker_sid="WK" + "1" * 32,
                                                               sid=text)),
            reservations.UpdateReservation(r.UpdateReservationRequest(
                workspace_sid=WS, task_sid="WT" + "1" * 32, sid="WR" + "1" * 32,
                call=r.CallInstruction(caller_id=text, to=text))),
        ]
        for call in calls:
            try:
                await call
            except grpc.aio.AioRpcError as err:
                assert err.code() not in BROKEN, (text, err.code(), err.details())
