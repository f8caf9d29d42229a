"""StatisticsService: every TaskRouter statistics endpoint, typed (translate/statistics.py)."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.message import Message
from taskrouter.gateway.v1 import statistics_pb2 as st
from taskrouter.gateway.v1 import statistics_service_pb2 as svc
from taskrouter.gateway.v1 import statistics_service_pb2_grpc

from ..reads import keys
from ..reads.options import staleness_of
from ..reads.reads import Reads
from ..translate import statistics as tr
from ..translate.rest_call import RestCall
from ..validation import Checker
from .base import UpstreamServicer, answered_from_cache, rpc
from .requests import TASK_QUEUE, WORKER, WORKFLOW, WORKSPACE, in_range, list_request, minutes_alone

MAX_MINUTES = 43_200  # 30 days: Twilio keeps the events statistics are computed from for 30 days
MAX_BULK_QUEUES = 50


def _check(req: Any, check: Checker | None = None, **sids: str) -> Checker:
    """The workspace, the named resource SIDs (field -> prefix, all required) and the window's fields."""
    check = check or Checker()
    check.sid("workspace_sid", req.workspace_sid, WORKSPACE, required=True)
    for field, prefix in sids.items():
        check.sid(field, getattr(req, field), prefix, required=True)
    fields = req.DESCRIPTOR.fields_by_name
    if "minutes" in fields:
        in_range(check, req, "minutes", 1, MAX_MINUTES)
        if "start_date" in fields:
            minutes_alone(check, req)
    if "split_by_wait_time" in fields:
        for index, seconds in enumerate(req.split_by_wait_time):
            if seconds < 1:
                check.fail(f"split_by_wait_time[{index}]", f"must be 1 or more seconds, got {seconds}")
    if "/" in req.task_channel or len(req.task_channel) > 64:
        check.fail("task_channel", "must be a TaskChannel SID or unique name of at most 64 characters, without '/'")
    return check


class StatisticsService(UpstreamServicer, statistics_service_pb2_grpc.StatisticsServiceServicer):
    async def _fetch(self, context: grpc.aio.ServicerContext, request: Message, message: Message,
                     call: RestCall | None = None, *, realtime: bool = False) -> Any:
        """GET the request's statistics (or send `call`) and read the JSON into `message`, through the read
        front. `realtime`: Twilio's real-time figures, read within a default staleness."""
        return await self._read(context, request, call or tr.get_call(request),
                                lambda reply: tr.fill(message, reply.body or {}), realtime=realtime)

    async def _queues_realtime(self, request: Any, reads: Reads,
                               sids: list[str]) -> list[tuple[st.TaskQueueRealTimeStatistics, float]]:
        """Each queue's real-time figures (and their age), through the bulk batcher (reads/queue_statistics.py).
        Fetched without this caller's deadline: the bulk request serves every caller batched into it."""
        check = Checker()
        max_age = staleness_of(request, reads.settings.realtime_statistics_staleness_s, check)
        check.done()
        return await reads.queue_statistics.get(keys.partition(), request.workspace_sid, sids, max_age,
                                                self._bulk_queue_figures, self._one_queue_figures)

    async def _bulk_queue_figures(self, workspace_sid: str, queue_sids: list[str]) -> list[st.TaskQueueRealTimeStatistics]:
        call = tr.task_queues_bulk_call(svc.BatchGetTaskQueueRealTimeStatisticsRequest(
            workspace_sid=workspace_sid, task_queue_sids=queue_sids))
        answer = tr.fill(st.TaskQueueBulkRealTimeStatistics(), (await self._call(None, call)).body or {})
        base = answer.url.rsplit("/RealTimeStatistics", 1)[0] if answer.url else ""
        for item in answer.task_queue_data:
            # Each is also a single queue's answer: give it the envelope's ids and its own URL.
            item.account_sid = item.account_sid or answer.account_sid
            item.workspace_sid = item.workspace_sid or answer.workspace_sid
            item.url = f"{base}/{item.task_queue_sid}/RealTimeStatistics" if base else ""
        return list(answer.task_queue_data)

    async def _one_queue_figures(self, workspace_sid: str, queue_sid: str) -> st.TaskQueueRealTimeStatistics:
        call = tr.get_call(svc.GetTaskQueueRealTimeStatisticsRequest(workspace_sid=workspace_sid,
                                                                      task_queue_sid=queue_sid))
        return tr.fill(st.TaskQueueRealTimeStatistics(), (await self._call(None, call)).body or {})

    @rpc
    async def GetWorkspaceStatistics(
        self, request: svc.GetWorkspaceStatisticsRequest, context: grpc.aio.ServicerContext
    ) -> st.WorkspaceStatistics:
        _check(request).done()
        return await self._fetch(context, request, st.WorkspaceStatistics())

    @rpc
    async def GetWorkspaceCumulativeStatistics(
        self, request: svc.GetWorkspaceCumulativeStatisticsRequest, context: grpc.aio.ServicerContext
    ) -> st.WorkspaceCumulativeStatistics:
        _check(request).done()
        return await self._fetch(context, request, st.WorkspaceCumulativeStatistics())

    @rpc
    async def GetWorkspaceRealTimeStatistics(
        self, request: svc.GetWorkspaceRealTimeStatisticsRequest, context: grpc.aio.ServicerContext
    ) -> st.WorkspaceRealTimeStatistics:
        _check(request).done()
        return await self._fetch(context, request, st.WorkspaceRealTimeStatistics(), realtime=True)

    @rpc
    async def GetTaskQueueStatistics(
        self, request: svc.GetTaskQueueStatisticsRequest, context: grpc.aio.ServicerContext
    ) -> st.TaskQueueStatistics:
        _check(request, task_queue_sid=TASK_QUEUE).done()
        return await self._fetch(context, request, st.TaskQueueStatistics())

    @rpc
    async def GetTaskQueueCumulativeStatistics(
        self, request: svc.GetTaskQueueCumulativeStatisticsRequest, context: grpc.aio.ServicerContext
    ) -> st.TaskQueueCumulativeStatistics:
        _check(request, task_queue_sid=TASK_QUEUE).done()
        return await self._fetch(context, request, st.TaskQueueCumulativeStatistics())

    @rpc
    async def GetTaskQueueRealTimeStatistics(
        self, request: svc.GetTaskQueueRealTimeStatisticsRequest, context: grpc.aio.ServicerContext
    ) -> st.TaskQueueRealTimeStatistics:
        _check(request, task_queue_sid=TASK_QUEUE).done()
        reads = self._reads
        if reads is None or request.task_channel:  # the bulk endpoint takes no TaskChannel
            return await self._fetch(context, request, st.TaskQueueRealTimeStatistics(), realtime=True)
        [(figures, age)] = await self._queues_realtime(request, reads, [request.task_queue_sid])
        if age > 0:
            answered_from_cache(context, age)
        return figures

    @rpc
    async def ListTaskQueuesStatistics(
        self, request: svc.ListTaskQueuesStatisticsRequest, context: grpc.aio.ServicerContext
    ) -> svc.ListTaskQueuesStatisticsResponse:
        _check(request, list_request(request, workspace=False)).done()
        return await self._read(context, request, tr.task_queues_list_call(request),
                                lambda reply: tr.task_queues_list_response(reply.body or {}))

    @rpc
    async def BatchGetTaskQueueRealTimeStatistics(
        self, request: svc.BatchGetTaskQueueRealTimeStatisticsRequest, context: grpc.aio.ServicerContext
    ) -> st.TaskQueueBulkRealTimeStatistics:
        check = Checker()
        check.sid("workspace_sid", request.workspace_sid, WORKSPACE, required=True)
        if not 1 <= len(request.task_queue_sids) <= MAX_BULK_QUEUES:
            got = len(request.task_queue_sids)
            check.fail("task_queue_sids", f"takes 1 to {MAX_BULK_QUEUES} TaskQueue SIDs, got {got}")
        for index, sid in enumerate(request.task_queue_sids):
            check.sid(f"task_queue_sids[{index}]", sid, TASK_QUEUE, required=True)
        check.done()
        reads = self._reads
        if reads is None:
            return await self._fetch(context, request, st.TaskQueueBulkRealTimeStatistics(),
                                     tr.task_queues_bulk_call(request))
        answers = await self._queues_realtime(request, reads, list(request.task_queue_sids))
        first = answers[0][0]
        suffix = f"/{first.task_queue_sid}/RealTimeStatistics"
        url = first.url[: -len(suffix)] + "/RealTimeStatistics" if first.url.endswith(suffix) else ""
        response = st.TaskQueueBulkRealTimeStatistics(account_sid=first.account_sid, workspace_sid=first.workspace_sid,
                                                      task_queue_response_count=len(answers), url=url)
        for figures, _age in answers:
            item = response.task_queue_data.add()
            item.CopyFrom(figures)
            item.url = ""  # nested: empty, as in TaskRouter's bulk answer
        oldest = max(age for _figures, age in answers)
        if oldest > 0:
            answered_from_cache(context, oldest)
        return response

    @rpc
    async def GetWorkerInstanceStatistics(
        self, request: svc.GetWorkerInstanceStatisticsRequest, context: grpc.aio.ServicerContext
    ) -> st.WorkerInstanceStatistics:
        _check(request, worker_sid=WORKER).done()
        return await self._fetch(context, request, st.WorkerInstanceStatistics())

    @rpc
    async def GetWorkerStatistics(
        self, request: svc.GetWorkerStatisticsRequest, context: grpc.aio.ServicerContext
    ) -> st.WorkersStatistics:
        check = _check(request)
        check.sid("task_queue_sid", request.task_queue_sid, TASK_QUEUE)
        check.done()
        return await self._fetch(context, request, st.WorkersStatistics())

    @rpc
    async def GetWorkersCumulativeStatistics(
        self, request: svc.GetWorkersCumulativeStatisticsRequest, context: grpc.aio.ServicerContext
    ) -> st.WorkersCumulativeStatistics:
        _check(request).done()
        return await self._fetch(context, request, st.WorkersCumulativeStatistics())

    @rpc
    async def GetWorkersRealTimeStatistics(
        self, request: svc.GetWorkersRealTimeStatisticsRequest, context: grpc.aio.ServicerContext
    ) -> st.WorkersRealTimeStatistics:
        _check(request).done()
        return await self._fetch(context, request, st.WorkersRealTimeStatistics(), realtime=True)

    @rpc
    async def GetWorkflowStatistics(
        self, request: svc.GetWorkflowStatisticsRequest, context: grpc.aio.ServicerContext
    ) -> st.WorkflowStatistics:
        _check(request, workflow_sid=WORKFLOW).done()
        return await self._fetch(context, request, st.WorkflowStatistics())

    @rpc
    async def GetWorkflowCumulativeStatistics(
        self, request: svc.GetWorkflowCumulativeStatisticsRequest, context: grpc.aio.ServicerContext
    ) -> st.WorkflowCumulativeStatistics:
        _check(request, workflow_sid=WORKFLOW).done()
        return await self._fetch(context, request, st.WorkflowCumulativeStatistics())

    @rpc
    async def GetWorkflowRealTimeStatistics(
        self, request: svc.GetWorkflowRealTimeStatisticsRequest, context: grpc.aio.ServicerContext
    ) -> st.WorkflowRealTimeStatistics:
        _check(request, workflow_sid=WORKFLOW).done()
        return await self._fetch(context, request, st.WorkflowRealTimeStatistics(), realtime=True)
