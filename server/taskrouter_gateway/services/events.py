"""EventService: REST-backed Get/List, gap backfill, callback wiring, and StreamEvents (event_stream.py)."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncGenerator

import grpc

from taskrouter.gateway.v1 import event_pb2, event_service_pb2 as svc, workspace_pb2

from ..ingest.backfill import RETENTION_MS, Backfiller
from ..tracing import PassThrough, Tracing
from ..translate import event_requests as tr
from ..translate.events import event_from_rest
from ..translate.workspaces import event_callback_call, workspace_from_json
from ..upstream import UpstreamClient
from ..validation import Checker
from .base import UpstreamServicer, rpc
from .event_stream import EventStreamer
from .requests import WORKSPACE, list_request, minutes_alone

_EVENT_TYPE = re.compile(r"^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$")


def _within_retention(check: Checker, start_ms: int) -> None:
    # TaskRouter answers 400 for a StartDate more than 30 days back; say so before calling it.
    if start_ms < time.time() * 1000 - RETENTION_MS:
        check.fail("start_date", "must be within the last 30 days (TaskRouter keeps events 30 days)")


class EventService(UpstreamServicer):
    def __init__(
        self,
        upstream: UpstreamClient,
        backfiller: Backfiller,
        webhook_url: str | None,
        streamer: EventStreamer,
        *,
        tracing: Tracing | PassThrough | None = None,
    ) -> None:
        super().__init__(upstream, tracing=tracing)
        self._backfiller = backfiller
        self._webhook_url = webhook_url
        self._streamer = streamer

    @rpc(prebuilt=True)
    def StreamEvents(
        self, request: svc.StreamEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncGenerator[bytes, None]:
        return self._streamer.StreamEvents(request, context)

    @rpc
    async def GetEvent(self, request: svc.GetEventRequest, context: grpc.aio.ServicerContext) -> event_pb2.Event:
        check = Checker()
        check.sid("workspace_sid", request.workspace_sid, WORKSPACE, required=True)
        check.sid("sid", request.sid, "EV", required=True)
        check.done()
        reply = await self._call(context, tr.get_event_call(request))
        return event_from_rest(reply.body or {})

    @rpc
    async def ListEvents(self, request: svc.ListEventsRequest, context: grpc.aio.ServicerContext) -> svc.ListEventsResponse:
        check = list_request(request)
        for field, prefix in (("reservation_sid", "WR"), ("task_queue_sid", "WQ"), ("task_sid", "WT"),
                              ("worker_sid", "WK"), ("workflow_sid", "WW"), ("sid", "EV")):
            check.sid(field, getattr(request, field), prefix)
        if request.HasField("minutes") and request.minutes <= 0:
            check.fail("minutes", "must be a positive number of minutes")
        minutes_alone(check, request)
        if request.HasField("start_date"):
            start_ms = check.timestamp_ms("start_date", request.start_date)
            if start_ms is not None:
                _within_retention(check, start_ms)
        if request.HasField("end_date"):
            check.timestamp_ms("end_date", request.end_date)
        check.done()
        reply = await self._call(context, tr.list_events_call(request))
        return tr.list_events_response(reply.body or {})

    @rpc
    async def BackfillEvents(
        self, request: svc.BackfillEventsRequest, context: grpc.aio.ServicerContext
    ) -> svc.BackfillEventsResponse:
        check = Checker()
        check.sid("workspace_sid", request.workspace_sid, WORKSPACE, required=True)
        start_ms = check.timestamp_ms("start_date", request.start_date) if request.HasField("start_date") else None
        end_ms = check.timestamp_ms("end_date", request.end_date) if request.HasField("end_date") else None
        if start_ms is not None:
            _within_retention(check, start_ms)
        if start_ms is not None and end_ms is not None and end_ms < start_ms:
            check.fail("end_date", "must not be before start_date")
        check.done()
        remaining = context.time_remaining()
        deadline = None if remaining is None else time.monotonic() + remaining
        result = await self._backfiller.backfill(
            request.workspace_sid, start_ms=start_ms, end_ms=end_ms, deadline=deadline
        )
        return svc.BackfillEventsResponse(
            fetched_count=result.fetched, appended_count=result.appended, duplicate_count=result.duplicates
        )

    @rpc
    async def ConfigureEventCallback(
        self, request: svc.ConfigureEventCallbackRequest, context: grpc.aio.ServicerContext
    ) -> workspace_pb2.Workspace:
        check = Checker()
        check.sid("workspace_sid", request.workspace_sid, WORKSPACE, required=True)
        check.url("callback_url", request.callback_url)
        if not request.callback_url and self._webhook_url is None:
            check.fail("callback_url", "is required: this gateway's webhook is off (it needs TWILIO_AUTH_TOKEN "
                       "to verify signatures), so there is no URL of its own to point TaskRouter at")
        for event_type in request.event_types:
            if not _EVENT_TYPE.match(event_type):
                check.fail("event_types", f"{event_type!r} is not a TaskRouter event type (e.g. worker.created)")
        check.done()
        call = event_callback_call(
            request.workspace_sid, request.callback_url or self._webhook_url or "", list(request.event_types)
        )
        reply = await self._call(context, call)
        return workspace_from_json(reply.body or {})
