"""Jobs that prepare or probe state rather than measure a rate: creating workers, listing them all.

Run inside a LoadAgent (see agent.py).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import grpc

from taskrouter.gateway.v1 import worker_service_pb2 as svc, worker_service_pb2_grpc

from .jobs_unary import basic_auth
from .window import Mark


def worker_attributes(n: int) -> str:
    return (
        f'{{"skills": ["support", "sales"], "languages": ["english", "spanish"], "level": {n % 10}, '
        f'"contact_uri": "client:agent-{n}", "team": "team-{n % 40}"}}'
    )


async def create_workers(
    mark: Mark, shared: Any, *, base_url: str, account_sid: str, auth_token: str, workspace_sid: str,
    start: int, count: int, concurrency: int = 32,
) -> dict[str, object]:
    """POSTs `count` workers to the emulator's REST API (no bulk path exists) and returns their SIDs in order."""
    url = f"{base_url}/v1/Workspaces/{workspace_sid}/Workers"
    sids: list[str] = [""] * count
    started = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=concurrency)
    headers = {"Authorization": basic_auth(account_sid, auth_token)}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        queue = iter(range(count))

        async def creator() -> None:
            for k in queue:
                n = start + k
                form = {"FriendlyName": f"bench-{n}", "Attributes": worker_attributes(n)}
                async with session.post(url, data=form) as response:
                    body = await response.json()
                    if response.status != 201:
                        raise RuntimeError(f"creating worker {n}: HTTP {response.status} {body}")
                    sids[k] = body["sid"]

        await asyncio.gather(*(creator() for _ in range(concurrency)))
    return {"sids": sids, "seconds": time.perf_counter() - started}


async def get_worker_bytes(mark: Mark, shared: Any, *, target: str, workspace_sid: str, sid: str) -> bytes:
    """One Worker as the gateway returns it: the bare gRPC server sends these exact bytes."""
    async with grpc.aio.insecure_channel(target) as channel:
        stub = worker_service_pb2_grpc.WorkerServiceStub(channel)
        worker = await stub.GetWorker(svc.GetWorkerRequest(workspace_sid=workspace_sid, sid=sid), timeout=30)
        return worker.SerializeToString()


async def list_all_workers(
    mark: Mark, shared: Any, *, target: str, workspace_sid: str, page_size: int
) -> dict[str, object]:
    """Pages through ListWorkers to the end; returns how many workers and pages came back."""
    started = time.perf_counter()
    workers = pages = 0
    token = ""
    async with grpc.aio.insecure_channel(target) as channel:
        stub = worker_service_pb2_grpc.WorkerServiceStub(channel)
        while True:
            page = await stub.ListWorkers(
                svc.ListWorkersRequest(workspace_sid=workspace_sid, page_size=page_size, page_token=token),
                timeout=120,
            )
            workers += len(page.workers)
            pages += 1
            token = page.next_page_token
            if not token:
                break
    return {"workers": workers, "pages": pages, "seconds": time.perf_counter() - started}


async def hold(mark: Mark, shared: Any, *, seconds: float) -> dict[str, float]:
    """Does nothing for `seconds`: an agent caught mid-job, for the test of a section that fails
    (tests/bench/test_bench_failed_section.py)."""
    await asyncio.sleep(seconds)
    return {"held": seconds}
