"""ActivityService."""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2

from taskrouter.gateway.v1 import activity_pb2, activity_service_pb2 as svc, activity_service_pb2_grpc

from ..translate import activities as tr
from ..validation import Checker
from .base import UpstreamServicer, rpc
from .requests import ACTIVITY, WORKSPACE, list_request, sid_pair


class ActivityService(UpstreamServicer, activity_service_pb2_grpc.ActivityServiceServicer):
    @rpc
    async def GetActivity(self, request: svc.GetActivityRequest, context: grpc.aio.ServicerContext) -> activity_pb2.Activity:
        sid_pair(request, ACTIVITY)
        return await self._read(context, request, tr.get_call(request), lambda reply: tr.activity_from_json(reply.body or {}))

    @rpc
    async def ListActivities(
        self, request: svc.ListActivitiesRequest, context: grpc.aio.ServicerContext
    ) -> svc.ListActivitiesResponse:
        check = list_request(request)
        check.friendly_name("friendly_name", request.friendly_name)
        check.done()
        return await self._read(context, request, tr.list_call_for(request), lambda reply: tr.list_response(reply.body or {}))

    @rpc
    async def CreateActivity(
        self, request: svc.CreateActivityRequest, context: grpc.aio.ServicerContext
    ) -> activity_pb2.Activity:
        check = Checker()
        check.sid("workspace_sid", request.workspace_sid, WORKSPACE, required=True)
        check.friendly_name("friendly_name", request.friendly_name, required=True)
        check.done()
        reply = await self._call(context, tr.create_call(request))
        return tr.activity_from_json(reply.body or {})

    @rpc
    async def UpdateActivity(
        self, request: svc.UpdateActivityRequest, context: grpc.aio.ServicerContext
    ) -> activity_pb2.Activity:
        check = Checker()
        check.sid("workspace_sid", request.workspace_sid, WORKSPACE, required=True)
        check.sid("sid", request.sid, ACTIVITY, required=True)
        if request.HasField("friendly_name"):
            check.friendly_name("friendly_name", request.friendly_name, required=True)
        check.done()
        reply = await self._call(context, tr.update_call(request))
        return tr.activity_from_json(reply.body or {})

    @rpc
    async def DeleteActivity(
        self, request: svc.DeleteActivityRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        sid_pair(request, ACTIVITY)
        await self._call(context, tr.delete_call(request))
        return empty_pb2.Empty()
