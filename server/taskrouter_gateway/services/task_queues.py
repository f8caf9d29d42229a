"""TaskQueueService."""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2
from taskrouter.gateway.v1 import task_queue_pb2, task_queue_service_pb2_grpc
from taskrouter.gateway.v1 import task_queue_service_pb2 as svc

from ..translate import task_queues as tr
from ..validation import Checker
from .base import UpstreamServicer, rpc
from .requests import ACTIVITY, TASK_QUEUE, WORKER, WORKSPACE, in_range, list_request, sid_pair


class TaskQueueService(UpstreamServicer, task_queue_service_pb2_grpc.TaskQueueServiceServicer):
    @rpc
    async def GetTaskQueue(
        self, request: svc.GetTaskQueueRequest, context: grpc.aio.ServicerContext
    ) -> task_queue_pb2.TaskQueue:
        sid_pair(request, TASK_QUEUE)
        return await self._read(context, request, tr.get_call(request), lambda reply: tr.task_queue_from_json(reply.body or {}))

    @rpc
    async def ListTaskQueues(
        self, request: svc.ListTaskQueuesRequest, context: grpc.aio.ServicerContext
    ) -> svc.ListTaskQueuesResponse:
        check = list_request(request)
        check.sid("worker_sid", request.worker_sid, WORKER)
        check.json_object("evaluate_worker_attributes", request.evaluate_worker_attributes)
        check.done()
        return await self._read(context, request, tr.list_call_for(request), lambda reply: tr.list_response(reply.body or {}))

    @rpc
    async def CreateTaskQueue(
        self, request: svc.CreateTaskQueueRequest, context: grpc.aio.ServicerContext
    ) -> task_queue_pb2.TaskQueue:
        check = Checker()
        check.sid("workspace_sid", request.workspace_sid, WORKSPACE, required=True)
        check.friendly_name("friendly_name", request.friendly_name, required=True)
        check.sid("reservation_activity_sid", request.reservation_activity_sid, ACTIVITY)
        check.sid("assignment_activity_sid", request.assignment_activity_sid, ACTIVITY)
        in_range(check, request, "max_reserved_workers", 1, 50)
        check.done()
        return tr.task_queue_from_json((await self._call(context, tr.create_call(request))).body or {})

    @rpc
    async def UpdateTaskQueue(
        self, request: svc.UpdateTaskQueueRequest, context: grpc.aio.ServicerContext
    ) -> task_queue_pb2.TaskQueue:
        check = Checker()
        check.sid("workspace_sid", request.workspace_sid, WORKSPACE, required=True)
        check.sid("sid", request.sid, TASK_QUEUE, required=True)
        if request.HasField("friendly_name"):
            check.friendly_name("friendly_name", request.friendly_name, required=True)
        for field in ("reservation_activity_sid", "assignment_activity_sid"):
            if request.HasField(field):
                check.sid(field, getattr(request, field), ACTIVITY, required=True)
        in_range(check, request, "max_reserved_workers", 1, 50)
        check.done()
        return tr.task_queue_from_json((await self._call(context, tr.update_call(request))).body or {})

    @rpc
    async def DeleteTaskQueue(
        self, request: svc.DeleteTaskQueueRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        sid_pair(request, TASK_QUEUE)
        await self._call(context, tr.delete_call(request))
        return empty_pb2.Empty()
