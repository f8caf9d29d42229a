"""WorkerService."""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2

from taskrouter.gateway.v1 import worker_pb2, worker_service_pb2 as svc, worker_service_pb2_grpc

from ..translate import workers as tr
from ..validation import Checker
from .base import UpstreamServicer, rpc
from .requests import ACTIVITY, TASK_QUEUE, WORKER, WORKSPACE, list_request, sid_pair


class WorkerService(UpstreamServicer, worker_service_pb2_grpc.WorkerServiceServicer):
    @rpc
    async def GetWorker(self, request: svc.GetWorkerRequest, context: grpc.aio.ServicerContext) -> worker_pb2.Worker:
        sid_pair(request, WORKER)
        reply = await self._call(context, tr.get_call(request))
        return tr.worker_from_json(reply.body or {}, reply.etag)

    @rpc
    async def ListWorkers(
        self, request: svc.ListWorkersRequest, context: grpc.aio.ServicerContext
    ) -> svc.ListWorkersResponse:
        check = list_request(request)
        check.sid("activity_sid", request.activity_sid, ACTIVITY)
        check.sid("task_queue_sid", request.task_queue_sid, TASK_QUEUE)
        check.friendly_name("friendly_name", request.friendly_name)
        check.done()
        reply = await self._call(context, tr.list_call_for(request))
        return tr.list_response(reply.body or {})

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
        if request.HasField("attributes"):
            check.json_object("attributes", request.attributes or "")
            if not request.attributes:
                check.fail("attributes", "must be a JSON object string; send \"{}\" to clear")
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
