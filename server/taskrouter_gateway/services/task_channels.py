"""TaskChannelService."""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2
from taskrouter.gateway.v1 import task_channel_pb2, task_channel_service_pb2_grpc
from taskrouter.gateway.v1 import task_channel_service_pb2 as svc

from ..translate import task_channels as tr
from ..validation import Checker
from .base import UpstreamServicer, rpc
from .requests import WORKSPACE, list_request, unique_name, workspace_and_name


class TaskChannelService(UpstreamServicer, task_channel_service_pb2_grpc.TaskChannelServiceServicer):
    @rpc
    async def GetTaskChannel(
        self, request: svc.GetTaskChannelRequest, context: grpc.aio.ServicerContext
    ) -> task_channel_pb2.TaskChannel:
        workspace_and_name(request).done()
        return await self._read(context, request, tr.get_call(request), lambda reply: tr.task_channel_from_json(reply.body or {}))

    @rpc
    async def ListTaskChannels(
        self, request: svc.ListTaskChannelsRequest, context: grpc.aio.ServicerContext
    ) -> svc.ListTaskChannelsResponse:
        list_request(request).done()
        return await self._read(context, request, tr.list_call_for(request), lambda reply: tr.list_response(reply.body or {}))

    @rpc
    async def CreateTaskChannel(
        self, request: svc.CreateTaskChannelRequest, context: grpc.aio.ServicerContext
    ) -> task_channel_pb2.TaskChannel:
        check = Checker()
        check.sid("workspace_sid", request.workspace_sid, WORKSPACE, required=True)
        check.friendly_name("friendly_name", request.friendly_name, required=True)
        check.friendly_name("unique_name", request.unique_name, required=True)
        unique_name(check, "unique_name", request.unique_name)
        check.done()
        return tr.task_channel_from_json((await self._call(context, tr.create_call(request))).body or {})

    @rpc
    async def UpdateTaskChannel(
        self, request: svc.UpdateTaskChannelRequest, context: grpc.aio.ServicerContext
    ) -> task_channel_pb2.TaskChannel:
        check = workspace_and_name(request)
        if request.HasField("friendly_name"):
            check.friendly_name("friendly_name", request.friendly_name, required=True)
        check.done()
        return tr.task_channel_from_json((await self._call(context, tr.update_call(request))).body or {})

    @rpc
    async def DeleteTaskChannel(
        self, request: svc.DeleteTaskChannelRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        workspace_and_name(request).done()
        await self._call(context, tr.delete_call(request))
        return empty_pb2.Empty()
