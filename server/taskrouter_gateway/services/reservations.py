"""ReservationService."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import grpc
from taskrouter.gateway.v1 import reservation_pb2, reservation_service_pb2_grpc
from taskrouter.gateway.v1 import reservation_service_pb2 as svc

from ..translate import reservations as tr
from ..validation import Checker
from .base import UpstreamServicer, rpc
from .requests import ACTIVITY, RESERVATION, TASK, WORKER, WORKSPACE


# Twilio's MaxParticipants: "a positive integer from 2 to 250".
MAX_PARTICIPANTS = 250


def _scoped(request: Any, check: Checker | None = None, *, sid: bool = True) -> Checker:
    check = check or Checker()
    check.sid("workspace_sid", request.workspace_sid, WORKSPACE, required=True)
    parent = request.WhichOneof("parent")
    if parent is None:
        check.fail("parent", "set task_sid or worker_sid")
    elif parent == "task_sid":
        check.sid("task_sid", request.task_sid, TASK, required=True)
    else:
        check.sid("worker_sid", request.worker_sid, WORKER, required=True)
    if sid:
        check.sid("sid", request.sid, RESERVATION, required=True)
    return check


class ReservationService(UpstreamServicer, reservation_service_pb2_grpc.ReservationServiceServicer):
    @rpc
    async def GetReservation(
        self, request: svc.GetReservationRequest, context: grpc.aio.ServicerContext
    ) -> reservation_pb2.Reservation:
        _scoped(request).done()
        return await self._read(context, request, tr.get_call(request), lambda reply: tr.reservation_from_json(reply.body or {}, reply.etag))

    @rpc
    async def ListReservations(
        self, request: svc.ListReservationsRequest, context: grpc.aio.ServicerContext
    ) -> svc.ListReservationsResponse:
        check = _scoped(request, sid=False)
        check.page_size(request.page_size)
        check.sid("filter_worker_sid", request.filter_worker_sid, WORKER)
        if request.filter_worker_sid and request.WhichOneof("parent") == "worker_sid":
            check.fail("filter_worker_sid", "only filters a Task's Reservations (the parent is a Worker here)")
        check.done()
        return await self._read(context, request, tr.list_call_for(request), lambda reply: tr.list_response(reply.body or {}))

    @rpc
    async def UpdateReservation(
        self, request: svc.UpdateReservationRequest, context: grpc.aio.ServicerContext
    ) -> reservation_pb2.Reservation:
        check = _scoped(request)
        check.header_value("etag", request.etag)
        which = request.WhichOneof("instruction")
        if which is None:
            check.fail("instruction", "is required: accept, reject, dequeue, call, redirect, conference, supervise, "
                                      "complete or wrapup")
        elif which in ("accept", "reject"):
            check.sid(f"{which}.worker_activity_sid", getattr(request, which).worker_activity_sid, ACTIVITY)
        elif which == "call":
            check.url("call.url", request.call.url)
            check.url("call.status_callback_url", request.call.status_callback_url)
        elif which == "redirect":
            check.sid("redirect.call_sid", request.redirect.call_sid, "CA", required=True)
            check.url("redirect.url", request.redirect.url)
        elif which in ("dequeue", "conference"):
            check.sid(f"{which}.post_work_activity_sid", getattr(request, which).post_work_activity_sid, ACTIVITY)
            if which == "conference":
                _conference(check, request.conference)
            else:
                _enums(check, "dequeue.status_callback_events", request.dequeue.status_callback_events,
                       tr.CALL_STATUS_EVENTS)
        elif which == "supervise":
            if request.WhichOneof("parent") != "task_sid":
                check.fail("supervise", "is a task-scoped instruction: set task_sid, not worker_sid")
            if not request.supervise.supervisor.strip():
                check.fail("supervise.supervisor", "is required: the supervisor's Worker SID or contact URI")
            _enums(check, "supervise.supervisor_mode", [request.supervise.supervisor_mode], tr.SUPERVISOR_MODES,
                   unset_ok=True)
        check.done()
        reply = await self._call(context, tr.update_call(request))
        return tr.reservation_from_json(reply.body or {}, reply.etag)


def _enums(check: Checker, field: str, values: Iterable[int], words: Mapping[int, str], *,
           unset_ok: bool = False) -> None:
    """Enum values the translation knows: a number from a newer client would otherwise be dropped silently."""
    for value in values:
        if value not in words and not (unset_ok and value == 0):
            check.fail(field, f"has no value {value}")


def _conference(check: Checker, conf: svc.ConferenceInstruction) -> None:
    for name in ("status_callback", "wait_url", "conference_status_callback", "recording_status_callback",
                 "conference_recording_status_callback"):
        check.url(f"conference.{name}", getattr(conf, name))
    if conf.max_participants and not 2 <= conf.max_participants <= MAX_PARTICIPANTS:
        check.fail("conference.max_participants", f"must be 2..{MAX_PARTICIPANTS} (0 = Twilio's default)")
    if conf.timeout < 0:
        check.fail("conference.timeout", "must not be negative")
    _enums(check, "conference.status_callback_events", conf.status_callback_events, tr.CALL_STATUS_EVENTS)
    _enums(check, "conference.conference_status_callback_events", conf.conference_status_callback_events,
           tr.CONFERENCE_EVENTS)
    for name, words in (("status_callback_method", tr.HTTP_METHODS), ("wait_method", tr.HTTP_METHODS),
                        ("conference_status_callback_method", tr.HTTP_METHODS),
                        ("recording_status_callback_method", tr.HTTP_METHODS),
                        ("conference_recording_status_callback_method", tr.HTTP_METHODS),
                        ("beep", tr.BEEPS), ("conference_record", tr.CONFERENCE_RECORDS),
                        ("conference_trim", tr.CONFERENCE_TRIMS), ("recording_channels", tr.RECORDING_CHANNELS),
                        ("jitter_buffer_size", tr.JITTER_BUFFER_SIZES)):
        _enums(check, f"conference.{name}", [getattr(conf, name)], words, unset_ok=True)
