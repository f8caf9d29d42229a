"""Load jobs for the reads section: GetWorker answered from the gateway's read cache, and many callers polling
queue statistics. Run inside a LoadAgent (see agent.py)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import grpc
from google.protobuf import duration_pb2

from taskrouter.gateway.v1 import (
    read_options_pb2,
    statistics_service_pb2 as stats,
    statistics_service_pb2_grpc,
    worker_service_pb2 as svc,
    worker_service_pb2_grpc,
)

from .jobs_unary import basic_auth
from .window import Mark, Window, closed_loop


async def cached_get_worker(
    mark: Mark, shared: Any, *, target: str, workspace_sid: str, sids: list[str], concurrency: int,
    warmup: float, seconds: float, max_staleness_s: float,
) -> dict[str, object]:
    """GetWorker with read_options.max_staleness: after the first fetch of each worker, answers come from the
    cache for as long as no event ends them (the bench workspace is quiet)."""
    options = read_options_pb2.ReadOptions(max_staleness=duration_pb2.Duration(seconds=int(max_staleness_s)))
    requests = [svc.GetWorkerRequest(workspace_sid=workspace_sid, sid=sid, read_options=options) for sid in sids]
    async with grpc.aio.insecure_channel(target) as channel:
        await channel.channel_ready()
        stub = worker_service_pb2_grpc.WorkerServiceStub(channel)

        async def call(i: int) -> bool:
            worker = await stub.GetWorker(requests[i % len(requests)], timeout=30)
            return bool(worker.sid)

        return await closed_loop(call, concurrency, Window(warmup, seconds), mark)


async def create_queues(
    mark: Mark, shared: Any, *, base_url: str, account_sid: str, auth_token: str, workspace_sid: str, count: int,
) -> dict[str, object]:
    url = f"{base_url}/v1/Workspaces/{workspace_sid}/TaskQueues"
    sids = []
    async with aiohttp.ClientSession(headers={"Authorization": basic_auth(account_sid, auth_token)}) as session:
        for n in range(count):
            async with session.post(url, data={"FriendlyName": f"bench-queue-{n}-{time.time_ns()}"}) as response:
                body = await response.json()
                if response.status != 201:
                    raise RuntimeError(f"creating queue {n}: HTTP {response.status} {body}")
                sids.append(body["sid"])
    return {"sids": sids}


async def poll_queue_statistics(
    mark: Mark, shared: Any, *, target: str, workspace_sid: str, queue_sids: list[str], callers: int,
    period_s: float, warmup: float, seconds: float,
) -> dict[str, object]:
    """`callers` callers, each asking every `period_s` for the real-time statistics of all `queue_sids` in one
    BatchGet (the gateway's default staleness applies). Counts answers and errors inside the window."""
    request = stats.BatchGetTaskQueueRealTimeStatisticsRequest(workspace_sid=workspace_sid, task_queue_sids=queue_sids)
    window = Window(warmup, seconds)
    served = errors = 0
    first_error = ""
    async with grpc.aio.insecure_channel(target) as channel:
        await channel.channel_ready()
        stub = statistics_service_pb2_grpc.StatisticsServiceStub(channel)

        async def caller(offset: float) -> None:
            nonlocal served, errors, first_error
            await asyncio.sleep(offset)  # callers spread over the period, as independent pollers are
            next_at = time.monotonic()
            while not window.ended:
                try:
                    answer = await stub.BatchGetTaskQueueRealTimeStatistics(request, timeout=30)
                    ok = len(answer.task_queue_data) == len(queue_sids)
                except grpc.aio.AioRpcError as exc:
                    ok = False
                    first_error = first_error or f"{exc.code().name}: {exc.details()}"[:300]
                if window.measuring:
                    served += ok
                    errors += not ok
                next_at += period_s
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))

        timer = asyncio.create_task(window.run(mark))
        await asyncio.gather(*(caller(period_s * k / callers) for k in range(callers)))
        await timer
    return {"served": served, "errors": errors, "first_error": first_error, "seconds": window.elapsed}
