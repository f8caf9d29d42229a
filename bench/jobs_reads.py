"""Load jobs for the reads section: many callers polling queue statistics (cache hits use
jobs_unary.grpc_get_worker with max_staleness_s). Run inside a LoadAgent (see agent.py)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import grpc
from taskrouter.gateway.v1 import statistics_service_pb2 as stats, statistics_service_pb2_grpc

from .jobs_unary import basic_auth
from .window import Mark, Window


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
