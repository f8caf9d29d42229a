"""Task routing through the gateway only: gRPC stubs create the queue, workflow, worker and task; a
StreamEvents subscriber sees the reservation arrive and accepts it over gRPC (an agent desktop's loop); the
stream's event types equal the checked-in lifecycle sequence. Plus the error mapping: wrong state ->
FAILED_PRECONDITION with the Twilio code, If-Match -> ABORTED, bad input -> INVALID_ARGUMENT."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest
from google.protobuf import timestamp_pb2

from taskrouter.gateway.v1 import (
    activity_service_pb2 as a,
    activity_service_pb2_grpc,
    event_service_pb2 as e,
    event_service_pb2_grpc,
    reservation_pb2,
    reservation_service_pb2 as r,
    reservation_service_pb2_grpc,
    task_channel_service_pb2 as tc,
    task_channel_service_pb2_grpc,
    task_pb2,
    task_queue_pb2,
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

from test_gateway_events_e2e import Subscriber

EXPECTED = json.loads((Path(__file__).parents[2] / "fixtures" / "routing" / "lifecycle_events.json").read_text())
LIFECYCLE = EXPECTED["event_types"][EXPECTED["event_types"].index("task.created"):]
Status = task_pb2.Task.AssignmentStatus


class Stubs:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.activities = activity_service_pb2_grpc.ActivityServiceStub(channel)
        self.events = event_service_pb2_grpc.EventServiceStub(channel)
        self.queues = task_queue_service_pb2_grpc.TaskQueueServiceStub(channel)
        self.workflows = workflow_service_pb2_grpc.WorkflowServiceStub(channel)
        self.workers = worker_service_pb2_grpc.WorkerServiceStub(channel)
        self.tasks = task_service_pb2_grpc.TaskServiceStub(channel)
        self.reservations = reservation_service_pb2_grpc.ReservationServiceStub(channel)
        self.channels = task_channel_service_pb2_grpc.TaskChannelServiceStub(channel)


@pytest.fixture
def ws(emulator) -> str:
    return emulator.config.default_workspace_sid


@pytest.fixture
async def stubs(gateway, channel, ws) -> Stubs:
    stubs = Stubs(channel)
    await stubs.events.ConfigureEventCallback(e.ConfigureEventCallbackRequest(workspace_sid=ws))
    return stubs


async def activity_sid(stubs: Stubs, ws: str, name: str) -> str:
    listed = await stubs.activities.ListActivities(a.ListActivitiesRequest(workspace_sid=ws, friendly_name=name))
    return listed.activities[0].sid


async def routing(stubs: Stubs, ws: str, **queue_fields) -> tuple[str, str]:
    queue = await stubs.queues.CreateTaskQueue(q.CreateTaskQueueRequest(
        workspace_sid=ws, friendly_name="Support", target_workers="skills HAS 'support'", **queue_fields))
    workflow = await stubs.workflows.CreateWorkflow(wf.CreateWorkflowRequest(
        workspace_sid=ws, friendly_name="Support",
        task_routing=workflow_pb2.TaskRouting(filters=[workflow_pb2.WorkflowFilter(
            filter_friendly_name="support", expression="type == 'support'",
            targets=[workflow_pb2.WorkflowTarget(queue=queue.sid, priority=5)])]),
    ))
    return queue.sid, workflow.sid


async def test_a_worker_accepts_its_reservation_as_it_arrives_on_the_stream(stubs, ws):
    queue_sid, workflow_sid = await routing(stubs, ws)
    workflow = await stubs.workflows.GetWorkflow(wf.GetWorkflowRequest(workspace_sid=ws, sid=workflow_sid))
    assert workflow.task_routing.filters[0].targets[0].queue == queue_sid
    assert workflow.task_routing.filters[0].targets[0].priority == 5
    assert json.loads(workflow.configuration)["task_routing"]["filters"][0]["expression"] == "type == 'support'"

    worker = await stubs.workers.CreateWorker(w.CreateWorkerRequest(
        workspace_sid=ws, friendly_name="alice", attributes='{"skills": ["support"]}'))
    mine = Subscriber(stubs.events, e.StreamEventsRequest(
        workspace_sid=ws, worker_sid=worker.sid, event_types=["reservation.created"]))
    everything = Subscriber(stubs.events, e.StreamEventsRequest(workspace_sid=ws))
    try:
        available = await activity_sid(stubs, ws, "Available")
        await stubs.workers.UpdateWorker(w.UpdateWorkerRequest(workspace_sid=ws, sid=worker.sid,
                                                               activity_sid=available))
        task = await stubs.tasks.CreateTask(t.CreateTaskRequest(
            workspace_sid=ws, workflow_sid=workflow_sid, attributes='{"type": "support"}'))
        assert task.etag == '"0"' and task.attributes_struct["type"] == "support"

        offered = await mine.next()  # the agent's loop: a reservation for me arrives...
        assert offered.event.event_type == "reservation.created" and offered.event.task.task_sid == task.sid
        reservation = await stubs.reservations.UpdateReservation(r.UpdateReservationRequest(  # ...and I accept it
            workspace_sid=ws, worker_sid=worker.sid, sid=offered.event.reservation.reservation_sid,
            accept=r.AcceptInstruction()))
        assert reservation.reservation_status == reservation_pb2.Reservation.STATUS_ACCEPTED

        assigned = await stubs.tasks.GetTask(t.GetTaskRequest(workspace_sid=ws, sid=task.sid))
        assert assigned.assignment_status == Status.ASSIGNMENT_STATUS_ASSIGNED
        assert assigned.task_queue_sid == queue_sid and assigned.priority == 5
        await stubs.reservations.UpdateReservation(r.UpdateReservationRequest(
            workspace_sid=ws, task_sid=task.sid, sid=reservation.sid, wrapup=r.WrapupInstruction()))
        done = await stubs.tasks.UpdateTask(t.UpdateTaskRequest(
            workspace_sid=ws, sid=task.sid, assignment_status=Status.ASSIGNMENT_STATUS_COMPLETED, reason="done"))
        assert done.assignment_status == Status.ASSIGNMENT_STATUS_COMPLETED and done.reason == "done"

        seen: list[str] = []
        while "task.completed" not in seen:
            seen.append((await everything.next()).event.event_type)
        assert seen[seen.index("task.created"):] == LIFECYCLE

        # The task and reservation filters see the real events too (replayed from the gateway's log).
        since = timestamp_pb2.Timestamp(seconds=task.date_created.seconds - 1)
        by_task = Subscriber(stubs.events, e.StreamEventsRequest(workspace_sid=ws, task_sid=task.sid, since=since))
        by_reservation = Subscriber(stubs.events, e.StreamEventsRequest(
            workspace_sid=ws, reservation_sid=reservation.sid, since=since))
        try:
            assert [m.event.event_type for m in await by_task.take(len(LIFECYCLE))] == LIFECYCLE
            assert [m.event.event_type for m in await by_reservation.take(4)] == [
                "reservation.created", "reservation.accepted", "reservation.wrapup", "reservation.completed"]
        finally:
            await by_task.close()
            await by_reservation.close()

        listed = await stubs.reservations.ListReservations(r.ListReservationsRequest(
            workspace_sid=ws, worker_sid=worker.sid))
        assert [x.reservation_status for x in listed.reservations] == [reservation_pb2.Reservation.STATUS_COMPLETED]
        tasks = await stubs.tasks.ListTasks(t.ListTasksRequest(
            workspace_sid=ws, assignment_status=[Status.ASSIGNMENT_STATUS_COMPLETED, Status.ASSIGNMENT_STATUS_PENDING]))
        assert [x.sid for x in tasks.tasks] == [task.sid] and tasks.tasks[0].attributes == ""
        assert not (await stubs.tasks.ListTasks(t.ListTasksRequest(
            workspace_sid=ws, assignment_status=[Status.ASSIGNMENT_STATUS_PENDING]))).tasks
    finally:
        await mine.close()
        await everything.close()


async def test_wrong_state_if_match_and_bad_input_map_to_their_statuses(stubs, ws):
    _, workflow_sid = await routing(stubs, ws)
    task = await stubs.tasks.CreateTask(t.CreateTaskRequest(workspace_sid=ws, workflow_sid=workflow_sid,
                                                            attributes='{"type": "support"}'))
    with pytest.raises(grpc.aio.AioRpcError) as wrong:
        await stubs.tasks.UpdateTask(t.UpdateTaskRequest(
            workspace_sid=ws, sid=task.sid, assignment_status=Status.ASSIGNMENT_STATUS_COMPLETED))
    assert wrong.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info, _ = error_info_from(wrong.value)
    assert info.reason == "TWILIO_WRONG_STATE" and info.metadata["twilio_code"] == "20001"

    updated = await stubs.tasks.UpdateTask(t.UpdateTaskRequest(workspace_sid=ws, sid=task.sid, etag=task.etag,
                                                               priority=3))
    assert updated.etag == '"1"'
    with pytest.raises(grpc.aio.AioRpcError) as stale:
        await stubs.tasks.UpdateTask(t.UpdateTaskRequest(workspace_sid=ws, sid=task.sid, etag=task.etag, priority=4))
    assert stale.value.code() == grpc.StatusCode.ABORTED
    assert (await stubs.tasks.GetTask(t.GetTaskRequest(workspace_sid=ws, sid=task.sid))).priority == 3

    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await stubs.reservations.UpdateReservation(r.UpdateReservationRequest(workspace_sid=ws, sid="WR1"))
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, violations = error_info_from(bad.value)
    fields = {v.field for v in violations.field_violations}
    assert fields == {"parent", "sid", "instruction"}
    with pytest.raises(grpc.aio.AioRpcError) as bad_queue:
        await stubs.queues.CreateTaskQueue(q.CreateTaskQueueRequest(workspace_sid=ws, friendly_name="x",
                                                                    max_reserved_workers=51))
    assert bad_queue.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as bad_config:
        await stubs.workflows.CreateWorkflow(wf.CreateWorkflowRequest(workspace_sid=ws, friendly_name="x",
                                                                      configuration='{"task_routing": {}}'))
    assert bad_config.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # from TaskRouter's own check
    assert "filter" in bad_config.value.details()


async def test_channels_queues_and_worker_channels_over_grpc(stubs, ws):
    listed = await stubs.channels.ListTaskChannels(tc.ListTaskChannelsRequest(workspace_sid=ws, page_size=2))
    assert [c.unique_name for c in listed.task_channels] == ["default", "voice"] and listed.next_page_token
    rest = await stubs.channels.ListTaskChannels(tc.ListTaskChannelsRequest(workspace_sid=ws,
                                                                            page_token=listed.next_page_token))
    assert [c.unique_name for c in rest.task_channels] == ["sms", "chat"]  # the token keeps the page size
    fax = await stubs.channels.CreateTaskChannel(tc.CreateTaskChannelRequest(
        workspace_sid=ws, friendly_name="Fax", unique_name="fax", channel_optimized_routing=True))
    assert fax.channel_optimized_routing is True
    queue = await stubs.queues.CreateTaskQueue(q.CreateTaskQueueRequest(
        workspace_sid=ws, friendly_name="LIFO", task_order=task_queue_pb2.TaskQueue.TASK_ORDER_LIFO,
        max_reserved_workers=2))
    assert queue.task_order == task_queue_pb2.TaskQueue.TASK_ORDER_LIFO and queue.max_reserved_workers == 2
    worker = await stubs.workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="bob"))
    chat = await stubs.workers.UpdateWorkerChannel(w.UpdateWorkerChannelRequest(
        workspace_sid=ws, worker_sid=worker.sid, sid="chat", capacity=3, available=False))
    assert chat.configured_capacity == 3 and chat.available is False and chat.sid.startswith("WC")
    channels = await stubs.workers.ListWorkerChannels(w.ListWorkerChannelsRequest(workspace_sid=ws,
                                                                                  worker_sid=worker.sid))
    assert {c.task_channel_unique_name for c in channels.worker_channels} == {
        "default", "voice", "sms", "chat", "video", "fax"}
    await stubs.channels.DeleteTaskChannel(tc.DeleteTaskChannelRequest(workspace_sid=ws, sid="fax"))
