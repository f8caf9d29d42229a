"""WorkerService."""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2

from taskrouter.gateway.v1 import reservation_pb2, worker_pb2, worker_service_pb2 as svc, worker_service_pb2_grpc

from ..translate import reservations as channels
from ..translate import workers as tr
from ..validation import Checker
from .base import UpstreamServicer, rpc
from .requests import (
    ACTIVITY,
    TASK_QUEUE,
    WORKER,
    WORKSPACE,
    in_range,
    list_request,
    replaced_attributes,
    sid_pair,
    workspace_and_name,
)


class WorkerService(UpstreamServicer, worker_service_pb2_grpc.WorkerServiceServicer):
    @rpc
    async def GetWorker(self, request: svc.GetWorkerRequest, context: grpc.aio.ServicerContext) -> worker_pb2.Worker:
        sid_pair(request, WORKER)
        return await self._read(context, request, tr.get_call(request), lambda reply: tr.worker_from_json(reply.body or {}, reply.etag))

    @rpc
    async def ListWorkers(
        self, request: svc.ListWorkersRequest, context: grpc.aio.ServicerContext
    ) -> svc.ListWorkersResponse:
        check = list_request(request)
        check.sid("activity_sid", request.activity_sid, ACTIVITY)
        check.sid("task_queue_sid", request.task_queue_sid, TASK_QUEUE)
        check.friendly_name("friendly_name", request.friendly_name)
        check.done()
        return await self._read(context, request, tr.list_call_for(request), lambda reply: tr.list_response(reply.body or {}))

    @rpc
    async def CreateWorker(self, request: svc.CreateWorkerRequest, context: grpc.aio.ServicerContext) -> worker_pb2.Worker:
        check = Checker()
        check.sid("workspace_sid", request.workspace_sid, WORKSPACE, required=True)
        check.friendly_name("friendly_name", request.friendly_name, required=True)
        check.sid("activity_sid", request.activity_sid, ACTIVITY)
        check.json_object("attributes", request.attributes)
        check.done()
        reply = await self._call(context, tr.create_call(request))
        return tr.worker_from_json(reply.body or {}, reply.etag)

    @rpc
    async def UpdateWorker(self, request: svc.UpdateWorkerRequest, context: grpc.aio.ServicerContext) -> worker_pb2.Worker:
        check = Checker()
        check.sid("workspace_sid", request.workspace_sid, WORKSPACE, required=True)
        check.sid("sid", request.sid, WORKER, required=True)
        if request.HasField("activity_sid"):
            check.sid("activity_sid", request.activity_sid, ACTIVITY, required=True)
        if request.HasField("friendly_name"):
            check.friendly_name("friendly_name", request.friendly_name, required=True)
        replaced_attributes(check, request)
        check.header_value("etag", request.etag)
        check.done()
        reply = await self._call(context, tr.update_call(request))
        return tr.worker_from_json(reply.body or {}, reply.etag)

    @rpc
    async def DeleteWorker(self, request: svc.DeleteWorkerRequest, context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        check = Checker()
        check.sid("workspace_sid", request.workspace_sid, WORKSPACE, required=True)
        check.sid("sid", request.sid, WORKER, required=True)
        check.header_value("etag", request.etag)
        check.done()
        await self._call(context, tr.delete_call(request))
        return empty_pb2.Empty()

    # ---- channels: /Workers/{WorkerSid}/Channels ----------------------------------------------------------

    @staticmethod
    def _check_channel(request: svc.GetWorkerChannelRequest | svc.UpdateWorkerChannelRequest) -> Checker:
        check = workspace_and_name(request)
        check.sid("worker_sid", request.worker_sid, WORKER, required=True)
        return check

    @rpc
    async def GetWorkerChannel(
        self, request: svc.GetWorkerChannelRequest, context: grpc.aio.ServicerContext
    ) -> reservation_pb2.WorkerChannel:
        self._check_channel(request).done()
        return await self._read(context, request, channels.get_channel_call(request), lambda reply: channels.worker_channel_from_json(reply.body or {}))

    @rpc
    async def ListWorkerChannels(
        self, request: svc.ListWorkerChannelsRequest, context: grpc.aio.ServicerContext
    ) -> svc.ListWorkerChannelsResponse:
        check = list_request(request)
        check.sid("worker_sid", request.worker_sid, WORKER, required=True)
        check.done()
        return await self._read(context, request, channels.list_channels_call(request), lambda reply: channels.channels_response(reply.body or {}))

    @rpc
    async def UpdateWorkerChannel(
        self, request: svc.UpdateWorkerChannelRequest, context: grpc.aio.ServicerContext
    ) -> reservation_pb2.WorkerChannel:
        check = self._check_channel(request)
        in_range(check, request, "capacity", 0, 50)
        check.done()
        reply = await self._call(context, channels.update_channel_call(request))
        return channels.worker_channel_from_json(reply.body or {})
