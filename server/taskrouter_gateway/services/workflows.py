"""WorkflowService."""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2
from taskrouter.gateway.v1 import workflow_pb2, workflow_service_pb2_grpc
from taskrouter.gateway.v1 import workflow_service_pb2 as svc

from ..translate import workflows as tr
from ..validation import Checker
from .base import UpstreamServicer, rpc
from .requests import TASK_QUEUE, WORKFLOW, WORKSPACE, in_range, list_request, sid_pair

MAX_RESERVATION_TIMEOUT = 86_400


def _check_routing(check: Checker, routing: workflow_pb2.TaskRouting, field: str) -> None:
    """The shape the gateway can check; expressions and queue existence are TaskRouter's to judge."""
    targets = [(f"{field}.default_filter", routing.default_filter)] if routing.HasField("default_filter") else []
    if not routing.filters and not targets:
        check.fail(field, "needs at least one filter or a default_filter")
    for i, flt in enumerate(routing.filters):
        if not flt.expression:
            check.fail(f"{field}.filters[{i}].expression", "is required")
        if not flt.targets:
            check.fail(f"{field}.filters[{i}].targets", "needs at least one target")
        targets += [(f"{field}.filters[{i}].targets[{j}]", t) for j, t in enumerate(flt.targets)]
    for where, target in targets:
        check.sid(f"{where}.queue", target.queue, TASK_QUEUE, required=True)
        if target.HasField("timeout") and target.timeout < 0:
            check.fail(f"{where}.timeout", "must not be negative")


def _check_configuration(check: Checker, request: svc.CreateWorkflowRequest | svc.UpdateWorkflowRequest) -> None:
    which = request.WhichOneof("configuration_source")
    if which == "configuration":
        check.json_object("configuration", request.configuration)
        if not request.configuration:
            check.fail("configuration", "must be a JSON object string")
    elif which == "task_routing":
        _check_routing(check, request.task_routing, "task_routing")


class WorkflowService(UpstreamServicer, workflow_service_pb2_grpc.WorkflowServiceServicer):
    @rpc
    async def GetWorkflow(
        self, request: svc.GetWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> workflow_pb2.Workflow:
        sid_pair(request, WORKFLOW)
        return await self._read(context, request, tr.get_call(request), lambda reply: tr.workflow_from_json(reply.body or {}))

    @rpc
    async def ListWorkflows(
        self, request: svc.ListWorkflowsRequest, context: grpc.aio.ServicerContext
    ) -> svc.ListWorkflowsResponse:
        list_request(request).done()
        return await self._read(context, request, tr.list_call_for(request), lambda reply: tr.list_response(reply.body or {}))

    @rpc
    async def CreateWorkflow(
        self, request: svc.CreateWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> workflow_pb2.Workflow:
        check = Checker()
        check.sid("workspace_sid", request.workspace_sid, WORKSPACE, required=True)
        check.friendly_name("friendly_name", request.friendly_name, required=True)
        if request.WhichOneof("configuration_source") is None:
            check.fail("configuration", "is required (the JSON string, or task_routing)")
        _check_configuration(check, request)
        check.url("assignment_callback_url", request.assignment_callback_url)
        check.url("fallback_assignment_callback_url", request.fallback_assignment_callback_url)
        in_range(check, request, "task_reservation_timeout", 1, MAX_RESERVATION_TIMEOUT)
        check.done()
        return tr.workflow_from_json((await self._call(context, tr.create_call(request))).body or {})

    @rpc
    async def UpdateWorkflow(
        self, request: svc.UpdateWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> workflow_pb2.Workflow:
        check = Checker()
        check.sid("workspace_sid", request.workspace_sid, WORKSPACE, required=True)
        check.sid("sid", request.sid, WORKFLOW, required=True)
        if request.HasField("friendly_name"):
            check.friendly_name("friendly_name", request.friendly_name, required=True)
        _check_configuration(check, request)
        check.url("assignment_callback_url", request.assignment_callback_url)
        check.url("fallback_assignment_callback_url", request.fallback_assignment_callback_url)
        in_range(check, request, "task_reservation_timeout", 1, MAX_RESERVATION_TIMEOUT)
        check.done()
        return tr.workflow_from_json((await self._call(context, tr.update_call(request))).body or {})

    @rpc
    async def DeleteWorkflow(
        self, request: svc.DeleteWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        sid_pair(request, WORKFLOW)
        await self._call(context, tr.delete_call(request))
        return empty_pb2.Empty()
