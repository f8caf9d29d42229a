"""Reservation updates through the gateway and the emulator: the supervise instruction, the etag
(If-Match; stale -> ABORTED) on task- and worker-scoped updates, the typed conference parameters, and
SipAuthPassword kept out of every log line, at debug level and on the error path."""

from __future__ import annotations

import grpc
import pytest

from taskrouter.gateway.v1 import (
    reservation_pb2,
    reservation_service_pb2 as r,
    task_service_pb2 as t,
    worker_service_pb2 as w,
)
from taskrouter_gateway import logs
from taskrouter_gateway.errors import error_info_from

from test_gateway_routing import Stubs, activity_sid, routing

Status = reservation_pb2.Reservation.Status
SIP_SECRET = "sip-Secret-4ae1c9"


@pytest.fixture
def ws(emulator) -> str:
    return emulator.config.default_workspace_sid


@pytest.fixture
def stubs(gateway, channel) -> Stubs:
    return Stubs(channel)


async def _pending(stubs: Stubs, ws: str) -> tuple[str, str, str]:
    """(task, worker, reservation) with the Reservation pending."""
    _, workflow = await routing(stubs, ws)
    worker = await stubs.workers.CreateWorker(w.CreateWorkerRequest(
        workspace_sid=ws, friendly_name="alice", attributes='{"skills": ["support"]}',
        activity_sid=await activity_sid(stubs, ws, "Available")))
    task = await stubs.tasks.CreateTask(t.CreateTaskRequest(workspace_sid=ws, workflow_sid=workflow,
                                                            attributes='{"type": "support"}'))
    listed = await stubs.reservations.ListReservations(r.ListReservationsRequest(workspace_sid=ws,
                                                                                 task_sid=task.sid))
    (res,) = listed.reservations
    assert res.reservation_status == Status.STATUS_PENDING
    return task.sid, worker.sid, res.sid


async def test_supervise_an_accepted_reservation(stubs, ws):
    task, worker, res = await _pending(stubs, ws)
    await stubs.reservations.UpdateReservation(r.UpdateReservationRequest(
        workspace_sid=ws, task_sid=task, sid=res, accept=r.AcceptInstruction()))
    supervised = await stubs.reservations.UpdateReservation(r.UpdateReservationRequest(
        workspace_sid=ws, task_sid=task, sid=res,
        supervise=r.SuperviseInstruction(supervisor=worker, supervisor_mode=r.SUPERVISOR_MODE_MONITOR)))
    assert supervised.reservation_status == Status.STATUS_ACCEPTED

    with pytest.raises(grpc.aio.AioRpcError) as scoped:
        await stubs.reservations.UpdateReservation(r.UpdateReservationRequest(
            workspace_sid=ws, worker_sid=worker, sid=res, supervise=r.SuperviseInstruction(supervisor=worker)))
    assert scoped.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as nobody:
        await stubs.reservations.UpdateReservation(r.UpdateReservationRequest(
            workspace_sid=ws, task_sid=task, sid=res, supervise=r.SuperviseInstruction(supervisor_mode=3)))
    _, violations = error_info_from(nobody.value)
    assert {v.field for v in violations.field_violations} == {"supervise.supervisor"}
    with pytest.raises(grpc.aio.AioRpcError) as unknown_mode:
        await stubs.reservations.UpdateReservation(r.UpdateReservationRequest(
            workspace_sid=ws, task_sid=task, sid=res, supervise=r.SuperviseInstruction(supervisor=worker,
                                                                                      supervisor_mode=9)))
    _, violations = error_info_from(unknown_mode.value)
    assert {v.field for v in violations.field_violations} == {"supervise.supervisor_mode"}


async def test_supervising_a_pending_reservation_is_failed_precondition(stubs, ws):
    task, worker, res = await _pending(stubs, ws)
    with pytest.raises(grpc.aio.AioRpcError) as early:
        await stubs.reservations.UpdateReservation(r.UpdateReservationRequest(
            workspace_sid=ws, task_sid=task, sid=res, supervise=r.SuperviseInstruction(supervisor=worker)))
    assert early.value.code() == grpc.StatusCode.FAILED_PRECONDITION


@pytest.mark.parametrize("scope", ["task", "worker"])
async def test_a_stale_etag_is_aborted_and_changes_nothing(stubs, ws, scope):
    task, worker, res = await _pending(stubs, ws)
    read = await stubs.reservations.GetReservation(r.GetReservationRequest(workspace_sid=ws, task_sid=task, sid=res))
    assert read.etag == (await stubs.tasks.GetTask(t.GetTaskRequest(workspace_sid=ws, sid=task))).etag != ""
    await stubs.tasks.UpdateTask(t.UpdateTaskRequest(workspace_sid=ws, sid=task, priority=2))  # the Task moves on
    parent = {"task_sid": task} if scope == "task" else {"worker_sid": worker}
    with pytest.raises(grpc.aio.AioRpcError) as stale:
        await stubs.reservations.UpdateReservation(r.UpdateReservationRequest(
            workspace_sid=ws, sid=res, etag=read.etag, accept=r.AcceptInstruction(), **parent))
    assert stale.value.code() == grpc.StatusCode.ABORTED
    again = await stubs.reservations.GetReservation(r.GetReservationRequest(workspace_sid=ws, task_sid=task, sid=res))
    assert again.reservation_status == Status.STATUS_PENDING
    accepted = await stubs.reservations.UpdateReservation(r.UpdateReservationRequest(
        workspace_sid=ws, sid=res, etag=again.etag, accept=r.AcceptInstruction(), **parent))
    assert accepted.reservation_status == Status.STATUS_ACCEPTED
    assert (accepted.etag != "") is (scope == "task")  # Twilio sends ETag on task-scoped answers only


async def test_bad_input_names_the_field(stubs, ws):
    task, _, res = await _pending(stubs, ws)
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await stubs.reservations.UpdateReservation(r.UpdateReservationRequest(
            workspace_sid=ws, task_sid=task, sid=res, etag="bad\netag",
            conference=r.ConferenceInstruction(max_participants=251, wait_url="hold.xml", beep=42,
                                               status_callback_events=[0])))
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, violations = error_info_from(bad.value)
    assert {v.field for v in violations.field_violations} == {
        "etag", "conference.max_participants", "conference.wait_url", "conference.beep",
        "conference.status_callback_events"}


async def test_conference_parameters_reach_the_emulator_and_the_sip_password_no_log(stubs, ws, emulator, capsys):
    logs.configure(log_format="json", level="debug")
    capsys.readouterr()
    task, _, res = await _pending(stubs, ws)
    conference = r.ConferenceInstruction(
        to="sip:alice@example.com", caller_id="+15550001111", muted=True, early_media=False,
        beep=r.CONFERENCE_BEEP_ON_ENTER, region="jp1", jitter_buffer_size=r.JITTER_BUFFER_SIZE_SMALL,
        conference_status_callback_events=[r.CONFERENCE_EVENT_JOIN, r.CONFERENCE_EVENT_LEAVE],
        sip_auth_username="alice", sip_auth_password=SIP_SECRET)
    accepted = await stubs.reservations.UpdateReservation(r.UpdateReservationRequest(
        workspace_sid=ws, task_sid=task, sid=res, conference=conference))
    assert accepted.reservation_status == Status.STATUS_ACCEPTED
    recorded = [e.request["parameters"] for c in emulator.context.store._calls.values() for e in c.events]
    (params,) = [p for p in recorded if p.get("reservation_sid") == res]
    assert (params["muted"], params["early_media"], params["beep"], params["region"]) == (
        "true", "false", "onEnter", "jp1")
    assert params["conference_status_callback_event"] == "join,leave"
    assert params["sip_auth_password"] == "[redacted]"
    # The error path too: the same instruction again is a wrong state, logged with its failure.
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await stubs.reservations.UpdateReservation(r.UpdateReservationRequest(
            workspace_sid=ws, task_sid=task, sid=res, conference=conference))
    assert again.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    err = capsys.readouterr().err
    assert "UpdateReservation" in err  # the debug log did run
    assert SIP_SECRET not in err


def test_the_log_redactor_hides_a_sip_password_in_any_casing():
    redact = logs.redactor(redact_pii=False)
    line = redact(None, "info", {"form": {"SipAuthPassword": "a", "SipAuthUsername": "u"},
                                 "sip_auth_password": "b", "request": [{"SIPAUTHPASSWORD": "c"}]})
    assert line == {"form": {"SipAuthPassword": logs.REDACTED, "SipAuthUsername": "u"},
                    "sip_auth_password": logs.REDACTED, "request": [{"SIPAUTHPASSWORD": logs.REDACTED}]}
