"""ReservationService."""

from __future__ import annotations

from typing import Any

import grpc
from taskrouter.gateway.v1 import reservation_pb2, reservation_service_pb2_grpc
from taskrouter.gateway.v1 import reservation_service_pb2 as svc

from ..translate import reservations as tr
from ..validation import Checker
from .base import UpstreamServicer, rpc
from .requests import ACTIVITY, RESERVATION, TASK, WORKER, WORKSPACE


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
        return tr.reservation_from_json((await self._call(context, tr.get_call(request))).body or {})

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
        return tr.list_response((await self._call(context, tr.list_call_for(request))).body or {})

    @rpc
    async def UpdateReservation(
        self, request: svc.UpdateReservationRequest, context: grpc.aio.ServicerContext
    ) -> reservation_pb2.Reservation:
        check = _scoped(request)
        which = request.WhichOneof("instruction")
        if which is None:
            check.fail("instruction", "is required: accept, reject, dequeue, call, redirect, conference, complete or wrapup")
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
        check.done()
        return tr.reservation_from_json((await self._call(context, tr.update_call(request))).body or {})
