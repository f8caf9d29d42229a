"""The REST requests the routing RPCs build: every parameter name is one Twilio's OpenAPI spec lists for that
operation, the reservation instruction oneof becomes the right flat form fields, and the typed workflow
configuration round-trips through its JSON."""

from __future__ import annotations

import json

import pytest
from google.protobuf import timestamp_pb2
from test_translate_requests import SPEC, _assert_names_in_spec

from taskrouter.gateway.v1 import (
    reservation_service_pb2 as r,
    task_pb2,
    task_queue_pb2,
    task_queue_service_pb2 as q,
    task_service_pb2 as t,
    worker_service_pb2 as w,
    workflow_pb2,
    workflow_service_pb2 as wf,
)
from taskrouter_gateway.translate import reservations, task_queues, tasks, workflows

WS = "WS" + "1" * 32
WT = "WT" + "2" * 32
WR = "WR" + "3" * 32
WK = "WK" + "4" * 32
WQ = "WQ" + "5" * 32
WA = "WA" + "6" * 32


@pytest.mark.parametrize(
    ("instruction", "form"),
    [
        ({"accept": r.AcceptInstruction(worker_activity_sid=WA)},
         {"ReservationStatus": "accepted", "WorkerActivitySid": WA}),
        ({"reject": r.RejectInstruction()}, {"ReservationStatus": "rejected"}),
        ({"complete": r.CompleteInstruction()}, {"ReservationStatus": "completed"}),
        ({"wrapup": r.WrapupInstruction()}, {"ReservationStatus": "wrapping"}),
        ({"dequeue": r.DequeueInstruction(caller_id="+15550001111", post_work_activity_sid=WA, timeout=20)},
         {"Instruction": "dequeue", "DequeueFrom": "+15550001111", "DequeuePostWorkActivitySid": WA,
          "DequeueTimeout": 20}),
        ({"call": r.CallInstruction(caller_id="+1555", to="client:alice", url="https://x.test/twiml", accept=True)},
         {"Instruction": "call", "CallFrom": "+1555", "CallTo": "client:alice", "CallUrl": "https://x.test/twiml",
          "CallAccept": True}),
        ({"redirect": r.RedirectInstruction(call_sid="CA" + "7" * 32, url="https://x.test/t", accept=True)},
         {"Instruction": "redirect", "RedirectCallSid": "CA" + "7" * 32, "RedirectUrl": "https://x.test/t",
          "RedirectAccept": True}),
        ({"conference": r.ConferenceInstruction(caller_id="+1555", to="client:bob", end_conference_on_exit=True)},
         {"Instruction": "conference", "From": "+1555", "To": "client:bob", "EndConferenceOnExit": True}),
    ],
)
@pytest.mark.parametrize("parent", [{"task_sid": WT}, {"worker_sid": WK}])
def test_each_reservation_instruction_becomes_its_form_fields(instruction, form, parent):
    call = reservations.update_call(r.UpdateReservationRequest(workspace_sid=WS, sid=WR, **parent, **instruction))
    assert call.method == "POST" and call.form == form
    scope = f"Tasks/{WT}" if "task_sid" in parent else f"Workers/{WK}"
    assert call.path == f"/v1/Workspaces/{WS}/{scope}/Reservations/{WR}"
    _assert_names_in_spec(call)


def test_supervise_becomes_twilios_supervise_form():
    call = reservations.update_call(r.UpdateReservationRequest(
        workspace_sid=WS, task_sid=WT, sid=WR,
        supervise=r.SuperviseInstruction(supervisor=WK, supervisor_mode=r.SUPERVISOR_MODE_WHISPER)))
    assert call.form == {"Instruction": "supervise", "Supervisor": WK, "SupervisorMode": "whisper"}
    _assert_names_in_spec(call)
    bare = reservations.update_call(r.UpdateReservationRequest(
        workspace_sid=WS, task_sid=WT, sid=WR, supervise=r.SuperviseInstruction(supervisor="client:sue")))
    assert bare.form == {"Instruction": "supervise", "Supervisor": "client:sue"}  # mode left to Twilio


FULL_CONFERENCE = r.ConferenceInstruction(
    caller_id="+1555", to="sip:agent@example.com", timeout=30, status_callback="https://x.test/s",
    end_conference_on_exit=True, post_work_activity_sid=WA, record=True,
    status_callback_method=r.HTTP_METHOD_GET,
    status_callback_events=[r.CALL_STATUS_EVENT_INITIATED, r.CALL_STATUS_EVENT_COMPLETED],
    muted=False, beep=r.CONFERENCE_BEEP_ON_EXIT, start_conference_on_enter=True, wait_url="https://x.test/w",
    wait_method=r.HTTP_METHOD_POST, early_media=False, max_participants=2,
    conference_status_callback="https://x.test/c", conference_status_callback_method=r.HTTP_METHOD_GET,
    conference_status_callback_events=[r.CONFERENCE_EVENT_START, r.CONFERENCE_EVENT_SPEAKER],
    conference_record=r.CONFERENCE_RECORD_RECORD_FROM_START, conference_trim=r.CONFERENCE_TRIM_DO_NOT_TRIM,
    recording_channels=r.RECORDING_CHANNELS_DUAL, recording_status_callback="https://x.test/r",
    recording_status_callback_method=r.HTTP_METHOD_POST, conference_recording_status_callback="https://x.test/cr",
    conference_recording_status_callback_method=r.HTTP_METHOD_GET, region="de1", sip_auth_username="u",
    sip_auth_password="p", end_conference_on_customer_exit=False, beep_on_customer_entrance=True,
    jitter_buffer_size=r.JITTER_BUFFER_SIZE_OFF,
)


def test_every_conference_parameter_gets_twilios_name_and_spelling():
    call = reservations.update_call(r.UpdateReservationRequest(workspace_sid=WS, task_sid=WT, sid=WR,
                                                               conference=FULL_CONFERENCE))
    assert call.form == {
        "Instruction": "conference", "From": "+1555", "To": "sip:agent@example.com", "Timeout": 30,
        "StatusCallback": "https://x.test/s", "EndConferenceOnExit": True, "PostWorkActivitySid": WA,
        "Record": True, "StatusCallbackMethod": "GET", "StatusCallbackEvent": ["initiated", "completed"],
        "Muted": False, "Beep": "onExit", "StartConferenceOnEnter": True, "WaitUrl": "https://x.test/w",
        "WaitMethod": "POST", "EarlyMedia": False, "MaxParticipants": 2,
        "ConferenceStatusCallback": "https://x.test/c", "ConferenceStatusCallbackMethod": "GET",
        "ConferenceStatusCallbackEvent": ["start", "speaker"], "ConferenceRecord": "record-from-start",
        "ConferenceTrim": "do-not-trim", "RecordingChannels": "dual", "RecordingStatusCallback": "https://x.test/r",
        "RecordingStatusCallbackMethod": "POST", "ConferenceRecordingStatusCallback": "https://x.test/cr",
        "ConferenceRecordingStatusCallbackMethod": "GET", "Region": "de1", "SipAuthUsername": "u",
        "SipAuthPassword": "p", "EndConferenceOnCustomerExit": False, "BeepOnCustomerEntrance": True,
        "JitterBufferSize": "off",
    }
    _assert_names_in_spec(call)
    # Unset optional booleans and unspecified enums are left to Twilio's defaults: not sent at all.
    plain = reservations.update_call(r.UpdateReservationRequest(
        workspace_sid=WS, task_sid=WT, sid=WR, conference=r.ConferenceInstruction(to="client:a")))
    assert plain.form == {"Instruction": "conference", "To": "client:a"}


def test_every_update_parameter_of_the_spec_is_reachable_from_the_proto():
    """Twilio's spec against the translation: each form parameter of both reservation updates is produced by
    some instruction (a parameter the proto lacks would fail here)."""
    maximal = {
        "accept": r.AcceptInstruction(worker_activity_sid=WA),
        "dequeue": r.DequeueInstruction(caller_id="a", to="b", post_work_activity_sid=WA, record="r", timeout=1,
                                        status_callback_url="https://x.test/d",
                                        status_callback_events=[r.CALL_STATUS_EVENT_RINGING]),
        "call": r.CallInstruction(caller_id="a", to="b", url="https://x.test/u", accept=True,
                                  status_callback_url="https://x.test/s", record="r", timeout=1),
        "redirect": r.RedirectInstruction(call_sid="CA" + "7" * 32, url="https://x.test/t", accept=True),
        "conference": FULL_CONFERENCE,
        "supervise": r.SuperviseInstruction(supervisor=WK, supervisor_mode=r.SUPERVISOR_MODE_MONITOR),
    }
    for parent, path in (({"task_sid": WT}, "/v1/Workspaces/{WorkspaceSid}/Tasks/{TaskSid}/Reservations/{Sid}"),
                         ({"worker_sid": WK},
                          "/v1/Workspaces/{WorkspaceSid}/Workers/{WorkerSid}/Reservations/{Sid}")):
        sent: set[str] = set()
        for name, body in maximal.items():
            if name == "supervise" and "worker_sid" in parent:
                continue
            sent |= set(reservations.update_call(r.UpdateReservationRequest(
                workspace_sid=WS, sid=WR, etag='"1"', **parent, **{name: body})).form)
        spec = _spec_form_names(path)
        assert spec - sent == set(), spec - sent
        assert sent - spec == set(), sent - spec


def _spec_form_names(path: str) -> set[str]:
    body = SPEC["paths"][path]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
    return set(body["schema"]["properties"])


@pytest.mark.parametrize("parent", [{"task_sid": WT}, {"worker_sid": WK}])
def test_a_reservation_update_sends_its_etag_as_if_match(parent):
    call = reservations.update_call(r.UpdateReservationRequest(
        workspace_sid=WS, sid=WR, etag='"7"', **parent, accept=r.AcceptInstruction()))
    assert call.headers == {"If-Match": '"7"'}
    _assert_names_in_spec(call)
    unconditional = reservations.update_call(r.UpdateReservationRequest(
        workspace_sid=WS, sid=WR, **parent, accept=r.AcceptInstruction()))
    assert unconditional.headers == {}


def test_task_requests_carry_spec_parameters_and_the_etag():
    start = timestamp_pb2.Timestamp(seconds=1_700_000_000)
    create = tasks.create_call(t.CreateTaskRequest(
        workspace_sid=WS, attributes='{"a": 1}', priority=0, timeout=60, task_channel="chat",
        workflow_sid="WW" + "8" * 32, virtual_start_time=start, ignore_capacity=False))
    assert create.form == {"Attributes": '{"a": 1}', "Priority": 0, "Timeout": 60, "TaskChannel": "chat",
                           "WorkflowSid": "WW" + "8" * 32, "VirtualStartTime": "2023-11-14T22:13:20Z",
                           "IgnoreCapacity": False}
    _assert_names_in_spec(create)
    update = tasks.update_call(t.UpdateTaskRequest(
        workspace_sid=WS, sid=WT, assignment_status=task_pb2.Task.ASSIGNMENT_STATUS_CANCELED, reason="dup",
        etag='"4"'))
    assert update.form == {"AssignmentStatus": "canceled", "Reason": "dup"} and update.headers == {"If-Match": '"4"'}
    _assert_names_in_spec(update)
    listed = tasks.list_call_for(t.ListTasksRequest(
        workspace_sid=WS, assignment_status=[task_pb2.Task.ASSIGNMENT_STATUS_PENDING,
                                             task_pb2.Task.ASSIGNMENT_STATUS_RESERVED],
        evaluate_task_attributes="a == 1", ordering="Priority:desc", priority=0))
    assert listed.query["AssignmentStatus"] == ["pending", "reserved"] and listed.query["Priority"] == 0
    _assert_names_in_spec(listed)


def test_queue_requests_send_only_what_is_set():
    create = task_queues.create_call(q.CreateTaskQueueRequest(
        workspace_sid=WS, friendly_name="Q", task_order=task_queue_pb2.TaskQueue.TASK_ORDER_LIFO))
    assert create.form == {"FriendlyName": "Q", "TaskOrder": "LIFO"}
    update = task_queues.update_call(q.UpdateTaskQueueRequest(workspace_sid=WS, sid=WQ, target_workers="",
                                                              max_reserved_workers=3))
    assert update.form == {"TargetWorkers": "", "MaxReservedWorkers": 3}
    for call in (create, update):
        _assert_names_in_spec(call)


def test_worker_channel_update_sends_capacity_and_availability():
    call = reservations.update_channel_call(w.UpdateWorkerChannelRequest(
        workspace_sid=WS, worker_sid=WK, sid="chat", capacity=0, available=False))
    assert call.path == f"/v1/Workspaces/{WS}/Workers/{WK}/Channels/chat"
    assert call.form == {"Capacity": 0, "Available": False}
    _assert_names_in_spec(call)


def test_typed_workflow_configuration_round_trips_through_json():
    routing = workflow_pb2.TaskRouting(
        filters=[workflow_pb2.WorkflowFilter(
            filter_friendly_name="vip", expression="vip == true",
            targets=[workflow_pb2.WorkflowTarget(queue=WQ, priority=10, timeout=30, order_by="worker.level DESC"),
                     workflow_pb2.WorkflowTarget(queue=WQ, skip_if="workers.available == 0",
                                                 known_worker_sid="task.agent")])],
        default_filter=workflow_pb2.WorkflowTarget(queue=WQ),
    )
    call = workflows.create_call(wf.CreateWorkflowRequest(workspace_sid=WS, friendly_name="W", task_routing=routing))
    _assert_names_in_spec(call)
    text = str(call.form["Configuration"])
    assert json.loads(text)["task_routing"]["filters"][0]["targets"][0] == {
        "queue": WQ, "order_by": "worker.level DESC", "priority": 10, "timeout": 30}
    parsed = workflow_pb2.TaskRouting()
    assert workflows.fill_task_routing(parsed, text)
    assert parsed == routing
    assert not workflows.fill_task_routing(workflow_pb2.TaskRouting(), "not json")
