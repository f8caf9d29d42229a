"""TaskService."""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2
from taskrouter.gateway.v1 import task_pb2, task_service_pb2_grpc
from taskrouter.gateway.v1 import task_service_pb2 as svc

from ..translate import tasks as tr
from ..validation import Checker
from .base import UpstreamServicer, rpc
from .requests import (
    TASK,
    TASK_QUEUE,
    WORKER,
    WORKFLOW,
    WORKSPACE,
    in_range,
    list_request,
    replaced_attributes,
    sid_pair,
)

MAX_PRIORITY = 2**31 - 1
MAX_TIMEOUT = 2_592_000
_UPDATABLE_STATUSES = (
    task_pb2.Task.ASSIGNMENT_STATUS_UNSPECIFIED,
    task_pb2.Task.ASSIGNMENT_STATUS_CANCELED,
    task_pb2.Task.ASSIGNMENT_STATUS_WRAPPING,
    task_pb2.Task.ASSIGNMENT_STATUS_COMPLETED,
)


class TaskService(UpstreamServicer, task_service_pb2_grpc.TaskServiceServicer):
    @rpc
    async def GetTask(self, request: svc.GetTaskRequest, context: grpc.aio.ServicerContext) -> task_pb2.Task:
        sid_pair(request, TASK)
        return await self._read(context, request, tr.get_call(request), lambda reply: tr.task_from_json(reply.body or {}, reply.etag))

    @rpc
    async def ListTasks(self, request: svc.ListTasksRequest, context: grpc.aio.ServicerContext) -> svc.ListTasksResponse:
        check = list_request(request)
        check.sid("workflow_sid", request.workflow_sid, WORKFLOW)
        check.sid("task_queue_sid", request.task_queue_sid, TASK_QUEUE)
        check.sid("routing_target", request.routing_target, WORKER)
        in_range(check, request, "priority", 0, MAX_PRIORITY)
        if any(status not in tr.STATUS_TO_REST for status in request.assignment_status):
            check.fail("assignment_status", "must not contain ASSIGNMENT_STATUS_UNSPECIFIED")
        check.done()
        return await self._read(context, request, tr.list_call_for(request), lambda reply: tr.list_response(reply.body or {}))

    @rpc
    async def CreateTask(self, request: svc.CreateTaskRequest, context: grpc.aio.ServicerContext) -> task_pb2.Task:
        check = Checker()
        check.sid("workspace_sid", request.workspace_sid, WORKSPACE, required=True)
        check.json_object("attributes", request.attributes)
        check.sid("workflow_sid", request.workflow_sid, WORKFLOW)
        check.sid("routing_target", request.routing_target, WORKER)
        check.sid("task_queue_sid", request.task_queue_sid, TASK_QUEUE)
        in_range(check, request, "priority", 0, MAX_PRIORITY)
        in_range(check, request, "timeout", 1, MAX_TIMEOUT)
        check.done()
        reply = await self._call(context, tr.create_call(request))
        return tr.task_from_json(reply.body or {}, reply.etag)

    @rpc
    async def UpdateTask(self, request: svc.UpdateTaskRequest, context: grpc.aio.ServicerContext) -> task_pb2.Task:
        check = Checker()
        check.sid("workspace_sid", request.workspace_sid, WORKSPACE, required=True)
        check.sid("sid", request.sid, TASK, required=True)
        replaced_attributes(check, request)
        if request.assignment_status not in _UPDATABLE_STATUSES:
            check.fail("assignment_status", "may only be set to CANCELED, WRAPPING or COMPLETED")
        in_range(check, request, "priority", 0, MAX_PRIORITY)
        check.done()
        reply = await self._call(context, tr.update_call(request))
        return tr.task_from_json(reply.body or {}, reply.etag)

    @rpc
    async def DeleteTask(self, request: svc.DeleteTaskRequest, context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        sid_pair(request, TASK)
        await self._call(context, tr.delete_call(request))
        return empty_pb2.Empty()
