"""WorkspaceService."""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2

from taskrouter.gateway.v1 import workspace_pb2, workspace_service_pb2 as svc, workspace_service_pb2_grpc

from ..translate import workspaces as tr
from ..validation import Checker
from .base import UpstreamServicer, rpc
from .requests import ACTIVITY, WORKSPACE, list_request

_TEMPLATES = ("", "FIFO", "NONE")


def _workspace_sid(request: object) -> Checker:
    check = Checker()
    check.sid("workspace_sid", request.workspace_sid, WORKSPACE, required=True)  # type: ignore[attr-defined]
    return check


class WorkspaceService(UpstreamServicer, workspace_service_pb2_grpc.WorkspaceServiceServicer):
    @rpc
    async def GetWorkspace(
        self, request: svc.GetWorkspaceRequest, context: grpc.aio.ServicerContext
    ) -> workspace_pb2.Workspace:
        _workspace_sid(request).done()
        return await self._read(context, request, tr.get_call(request), lambda reply: tr.workspace_from_json(reply.body or {}))

    @rpc
    async def ListWorkspaces(
        self, request: svc.ListWorkspacesRequest, context: grpc.aio.ServicerContext
    ) -> svc.ListWorkspacesResponse:
        check = list_request(request, workspace=False)
        check.friendly_name("friendly_name", request.friendly_name)
        check.done()
        return await self._read(context, request, tr.list_call_for(request), lambda reply: tr.list_response(reply.body or {}))

    @rpc
    async def CreateWorkspace(
        self, request: svc.CreateWorkspaceRequest, context: grpc.aio.ServicerContext
    ) -> workspace_pb2.Workspace:
        check = Checker()
        check.friendly_name("friendly_name", request.friendly_name, required=True)
        check.url("event_callback_url", request.event_callback_url)
        if request.template not in _TEMPLATES:
            check.fail("template", "must be FIFO or NONE")
        check.done()
        reply = await self._call(context, tr.create_call(request))
        return tr.workspace_from_json(reply.body or {})

    @rpc
    async def UpdateWorkspace(
        self, request: svc.UpdateWorkspaceRequest, context: grpc.aio.ServicerContext
    ) -> workspace_pb2.Workspace:
        check = _workspace_sid(request)
        for field in ("default_activity_sid", "timeout_activity_sid"):
            if request.HasField(field):
                check.sid(field, getattr(request, field), ACTIVITY, required=True)
        if request.HasField("friendly_name"):
            check.friendly_name("friendly_name", request.friendly_name, required=True)
        if request.HasField("event_callback_url"):
            check.url("event_callback_url", request.event_callback_url)
        check.done()
        reply = await self._call(context, tr.update_call(request))
        return tr.workspace_from_json(reply.body or {})

    @rpc
    async def DeleteWorkspace(
        self, request: svc.DeleteWorkspaceRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        _workspace_sid(request).done()
        await self._call(context, tr.delete_call(request))
        return empty_pb2.Empty()
