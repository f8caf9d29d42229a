"""CallEventService: Voice's Call Events subresource over the 2010 API."""

from __future__ import annotations

import grpc

from taskrouter.gateway.v1 import call_event_service_pb2 as svc, call_event_service_pb2_grpc

from ..translate import call_events as tr
from ..validation import Checker
from .base import UpstreamServicer, rpc


class CallEventService(UpstreamServicer, call_event_service_pb2_grpc.CallEventServiceServicer):
    @rpc
    async def ListCallEvents(
        self, request: svc.ListCallEventsRequest, context: grpc.aio.ServicerContext
    ) -> svc.ListCallEventsResponse:
        check = Checker()
        check.sid("account_sid", request.account_sid, "AC")
        check.sid("call_sid", request.call_sid, "CA", required=True)
        check.page_size(request.page_size)
        check.done()
        call = tr.list_call_events_call(request, default_account_sid=self._upstream.account_sid)
        reply = await self._call(context, call)
        return tr.list_call_events_response(reply.body or {})
