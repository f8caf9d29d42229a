"""Reservation updates as Twilio's v1 spec lists them: the supervise instruction, If-Match on task-
and worker-scoped updates (the Reservation's ETag is its Task's), and every conference instruction parameter,
checked by kind and recorded on the made-up Call, with SipAuthPassword recorded redacted. Twilio's own Python
library sends the supervise instruction, the If-Match header and the conference parameters."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException

from .routing_kit import Space, call, new_space, ok
from .test_twilio_client import client_for

pytestmark = pytest.mark.asyncio


async def _reserved(http) -> tuple[Space, str, str, str]:
    """A workspace with one pending Reservation: (space, task, reservation, worker)."""
    space = await new_space(http)
    wf = await space.simple_workflow(await space.queue("Q"))
    worker = await space.worker("w")
    task = await space.task(wf)
    (res,) = await space.reservations(task)
    assert res["reservation_status"] == "pending"
    return space, task, res["sid"], worker


def _recorded(emulator, reservation: str) -> list[dict[str, Any]]:
    """The parameters of every Call the emulator made up for this Reservation's instructions."""
    calls = emulator.context.store._calls.values()
    found = [e.request["parameters"] for c in calls for e in c.events]
    return [p for p in found if p.get("reservation_sid") == reservation]


async def test_supervise_through_twilio_library_is_recorded_and_keeps_the_reservation_accepted(
        emulator, emulator_http):
    space, task, res, _ = await _reserved(emulator_http)
    supervisor = await space.worker("supervisor", activity="Busy")
    await ok(emulator_http, "POST", f"{space.base}/Tasks/{task}/Reservations/{res}",
             data={"ReservationStatus": "accepted"})
    client = client_for(emulator)

    def supervise() -> str:
        reservation = client.taskrouter.v1.workspaces(space.sid).tasks(task).reservations(res)
        return reservation.update(instruction="supervise", supervisor=supervisor, supervisor_mode="barge")
    updated = await asyncio.to_thread(supervise)
    assert updated.reservation_status == "accepted"
    (params,) = _recorded(emulator, res)
    assert (params["instruction"], params["supervisor"], params["supervisor_mode"]) == (
        "supervise", supervisor, "barge")
    assert (await space.get_task(task))["assignment_status"] == "assigned"


async def test_supervise_refusals_name_what_is_wrong(emulator_http):
    space, task, res, worker = await _reserved(emulator_http)
    url = f"{space.base}/Tasks/{task}/Reservations/{res}"
    # Pending: nothing to supervise yet.
    status, body = await call(emulator_http, "POST", url, data={"Instruction": "supervise", "Supervisor": worker})
    assert status == 400 and "accepted" in body["message"]
    await ok(emulator_http, "POST", url, data={"ReservationStatus": "accepted"})
    for data, word in (
        ({"Instruction": "supervise"}, "Supervisor"),
        ({"Instruction": "supervise", "Supervisor": worker, "SupervisorMode": "shout"}, "SupervisorMode"),
        ({"Instruction": "conference", "Supervisor": worker}, "Supervisor"),
        ({"ReservationStatus": "completed", "SupervisorMode": "monitor"}, "SupervisorMode"),
    ):
        status, body = await call(emulator_http, "POST", url, data=data)
        assert status == 400 and word in body["message"], (data, body)
    # Twilio's spec lists Supervisor and SupervisorMode on the task-scoped update only.
    status, body = await call(emulator_http, "POST", f"{space.base}/Workers/{worker}/Reservations/{res}",
                              data={"Instruction": "supervise", "Supervisor": worker})
    assert status == 400 and "task" in body["message"].lower()
    for mode in ("monitor", "whisper", "barge"):
        await ok(emulator_http, "POST", url, data={"Instruction": "supervise", "Supervisor": "client:sup",
                                                   "SupervisorMode": mode})


@pytest.mark.parametrize("scope", ["task", "worker"])
async def test_if_match_on_reservation_updates(emulator_http, scope):
    space, task, res, worker = await _reserved(emulator_http)
    task_url = f"{space.base}/Tasks/{task}/Reservations/{res}"
    url = task_url if scope == "task" else f"{space.base}/Workers/{worker}/Reservations/{res}"
    async with emulator_http.get(task_url) as resp:
        tag = resp.headers["ETag"]
    async with emulator_http.get(f"{space.base}/Tasks/{task}") as resp:
        assert resp.headers["ETag"] == tag  # the Reservation's ETag is its Task's
    # The Task moves on (its priority changes): the tag read before is stale.
    await ok(emulator_http, "POST", f"{space.base}/Tasks/{task}", data={"Priority": "3"})
    status, body = await call(emulator_http, "POST", url, data={"ReservationStatus": "accepted"},
                              headers={"If-Match": tag})
    assert status == 412 and tag in body["message"]
    (still,) = await space.reservations(task)
    assert still["reservation_status"] == "pending"  # a refused update changes nothing
    async with emulator_http.get(task_url) as resp:
        fresh = resp.headers["ETag"]
    async with emulator_http.post(url, data={"ReservationStatus": "accepted"}, headers={"If-Match": fresh}) as resp:
        assert resp.status == 200
        assert (await resp.json())["reservation_status"] == "accepted"
        # Twilio's spec: an ETag header on task-scoped answers only.
        assert ("ETag" in resp.headers) is (scope == "task")


async def test_if_match_through_twilio_library(emulator, emulator_http):
    space, task, res, _ = await _reserved(emulator_http)
    client = client_for(emulator)

    def attempt(tag: str) -> str:
        reservation = client.taskrouter.v1.workspaces(space.sid).tasks(task).reservations(res)
        return reservation.update(reservation_status="accepted", if_match=tag).reservation_status

    with pytest.raises(TwilioRestException) as caught:
        await asyncio.to_thread(attempt, '"999"')
    assert caught.value.status == 412
    async with emulator_http.get(f"{space.base}/Tasks/{task}") as resp:
        tag = resp.headers["ETag"]
    assert await asyncio.to_thread(attempt, tag) == "accepted"


# Every conference parameter of the spec beyond To/From/Timeout/StatusCallback/EndConferenceOnExit/Record/
# PostWorkActivitySid, as Twilio's library names them, with a value the spec allows.
CONFERENCE = {
    "status_callback_method": "GET",
    "status_callback_event": ["initiated", "completed"],
    "muted": True,
    "beep": "onEnter",
    "start_conference_on_enter": False,
    "wait_url": "https://example.com/hold.xml",
    "wait_method": "GET",
    "early_media": False,
    "max_participants": 10,
    "conference_status_callback": "https://example.com/conf",
    "conference_status_callback_method": "POST",
    "conference_status_callback_event": ["start", "end", "join"],
    "conference_record": "record-from-start",
    "conference_trim": "do-not-trim",
    "recording_channels": "dual",
    "recording_status_callback": "https://example.com/rec",
    "recording_status_callback_method": "GET",
    "conference_recording_status_callback": "https://example.com/conf-rec",
    "conference_recording_status_callback_method": "POST",
    "region": "ie1",
    "sip_auth_username": "agent7",
    "sip_auth_password": "s3cret-sip-pass",
    "end_conference_on_customer_exit": True,
    "beep_on_customer_entrance": False,
    "jitter_buffer_size": "large",
}


async def test_conference_parameters_through_twilio_library_are_recorded(emulator, emulator_http):
    space, task, res, _ = await _reserved(emulator_http)
    client = client_for(emulator)

    def conference() -> str:
        reservation = client.taskrouter.v1.workspaces(space.sid).tasks(task).reservations(res)
        return reservation.update(instruction="conference", from_="+15550001111", to="client:alice",
                                  **CONFERENCE).reservation_status
    assert await asyncio.to_thread(conference) == "accepted"
    (params,) = _recorded(emulator, res)
    assert params["instruction"] == "conference"
    assert params["status_callback_event"] == "initiated,completed"
    assert params["conference_status_callback_event"] == "start,end,join"
    assert (params["muted"], params["start_conference_on_enter"], params["max_participants"]) == (
        "true", "false", "10")
    assert (params["beep"], params["region"], params["jitter_buffer_size"]) == ("onEnter", "ie1", "large")
    assert params["sip_auth_username"] == "agent7"
    # The secret is recorded as given-but-hidden: the Call Events API shows recorded parameters.
    assert params["sip_auth_password"] == "[redacted]"
    assert "s3cret-sip-pass" not in repr(emulator.context.store._calls)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Muted", "maybe"),
        ("Beep", "loud"),
        ("StartConferenceOnEnter", "1"),
        ("WaitUrl", "hold.xml"),
        ("WaitMethod", "PUT"),
        ("EarlyMedia", "yes"),
        ("MaxParticipants", "1"),
        ("MaxParticipants", "251"),
        ("MaxParticipants", "ten"),
        ("ConferenceStatusCallback", "ftp://example.com/"),
        ("ConferenceStatusCallbackMethod", "DELETE"),
        ("ConferenceStatusCallbackEvent", "begin"),
        ("StatusCallbackEvent", "answered-ish"),
        ("StatusCallbackMethod", "PATCH"),
        ("ConferenceRecord", "always"),
        ("ConferenceTrim", "trim"),
        ("RecordingChannels", "stereo"),
        ("RecordingStatusCallbackMethod", "HEAD"),
        ("ConferenceRecordingStatusCallback", "/relative"),
        ("Region", "mars1"),
        ("JitterBufferSize", "huge"),
        ("EndConferenceOnCustomerExit", "no"),
        ("BeepOnCustomerEntrance", "2"),
        ("Timeout", "0"),
        ("PostWorkActivitySid", "WA123"),
    ],
)
async def test_a_bad_conference_parameter_is_a_400_naming_it(emulator_http, name, value):
    space, task, res, _ = await _reserved(emulator_http)
    status, body = await call(emulator_http, "POST", f"{space.base}/Tasks/{task}/Reservations/{res}",
                              data={"Instruction": "conference", name: value})
    assert status == 400 and name in body["message"], body
    (still,) = await space.reservations(task)
    assert still["reservation_status"] == "pending"


async def test_a_parameter_of_another_instruction_is_a_400(emulator_http):
    space, task, res, _ = await _reserved(emulator_http)
    url = f"{space.base}/Tasks/{task}/Reservations/{res}"
    for data, name in (({"Instruction": "call", "Muted": "true"}, "Muted"),
                       ({"Instruction": "dequeue", "CallUrl": "https://example.com/x"}, "CallUrl"),
                       ({"ReservationStatus": "accepted", "Region": "us1"}, "Region")):
        status, body = await call(emulator_http, "POST", url, data=data)
        assert status == 400 and name in body["message"], (data, body)
    # The dequeue instruction's own event list is checked too.
    status, body = await call(emulator_http, "POST", url,
                              data={"Instruction": "dequeue", "DequeueStatusCallbackEvent": "done"})
    assert status == 400 and "DequeueStatusCallbackEvent" in body["message"]
