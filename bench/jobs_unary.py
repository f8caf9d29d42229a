"""Load jobs for the unary comparison: one worker fetch, four ways, each as a closed loop at N in flight.

Run inside a LoadAgent (see agent.py); each returns window.ClosedLoopResult.summary().
"""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import grpc

from google.protobuf import duration_pb2

from taskrouter.gateway.v1 import read_options_pb2, worker_service_pb2 as svc, worker_service_pb2_grpc

from .window import Mark, Window, closed_loop


async def grpc_get_worker(
    mark: Mark, shared: Any, *, target: str, workspace_sid: str, sids: list[str], concurrency: int,
    warmup: float, seconds: float, max_staleness_s: int = 0,
) -> dict[str, object]:
    """WorkerService.GetWorker over one channel: the gateway, or the bare server with the same service.
    max_staleness_s > 0: the gateway answers from its read cache after each worker's first fetch."""
    options = {}
    if max_staleness_s:
        options["read_options"] = read_options_pb2.ReadOptions(max_staleness=duration_pb2.Duration(seconds=max_staleness_s))
    requests = [svc.GetWorkerRequest(workspace_sid=workspace_sid, sid=sid, **options) for sid in sids]
    async with grpc.aio.insecure_channel(target) as channel:
        await channel.channel_ready()
        stub = worker_service_pb2_grpc.WorkerServiceStub(channel)

        async def call(i: int) -> bool:
            worker = await stub.GetWorker(requests[i % len(requests)], timeout=30)
            return bool(worker.sid)

        return await closed_loop(call, concurrency, Window(warmup, seconds), mark)


async def connect_get_worker(
    mark: Mark, shared: Any, *, url: str, workspace_sid: str, sids: list[str], concurrency: int, codec: str,
    warmup: float, seconds: float,
) -> dict[str, object]:
    """WorkerService.GetWorker over the Connect port (aiohttp, HTTP/1.1 keep-alive, `concurrency` connections):
    codec "json" as curl and browsers send it, or "proto" (binary)."""
    import json

    if codec == "json":
        bodies = [json.dumps({"workspaceSid": workspace_sid, "sid": sid}).encode() for sid in sids]
    else:
        bodies = [svc.GetWorkerRequest(workspace_sid=workspace_sid, sid=sid).SerializeToString() for sid in sids]
    headers = {"content-type": f"application/{codec}"}
    endpoint = f"{url}/taskrouter.gateway.v1.WorkerService/GetWorker"
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def call(i: int) -> bool:
            async with session.post(endpoint, data=bodies[i % len(bodies)], headers=headers) as response:
                body = await response.read()
                return response.status == 200 and bool(body)

        return await closed_loop(call, concurrency, Window(warmup, seconds), mark)


def basic_auth(account_sid: str, auth_token: str) -> str:
    return "Basic " + base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()


async def rest_get_worker(
    mark: Mark, shared: Any, *, base_url: str, account_sid: str, auth_token: str, workspace_sid: str,
    sids: list[str], concurrency: int, warmup: float, seconds: float,
) -> dict[str, object]:
    """aiohttp GET /v1/Workspaces/{ws}/Workers/{sid} straight at the emulator: the REST ceiling."""
    urls = [f"{base_url}/v1/Workspaces/{workspace_sid}/Workers/{sid}" for sid in sids]
    headers = {"Authorization": basic_auth(account_sid, auth_token), "Accept": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def call(i: int) -> bool:
            async with session.get(urls[i % len(urls)]) as response:
                await response.read()
                return response.status == 200

        return await closed_loop(call, concurrency, Window(warmup, seconds), mark)


async def twilio_get_worker(
    mark: Mark, shared: Any, *, base_url: str, account_sid: str, auth_token: str, workspace_sid: str,
    sids: list[str], concurrency: int, warmup: float, seconds: float,
) -> dict[str, object]:
    """Twilio's own helper library (its aiohttp-based async client) fetching the worker from the emulator."""
    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.rest import Client

    http_client = AsyncTwilioHttpClient()
    client = Client(account_sid, auth_token, http_client=http_client)
    client.taskrouter.base_url = base_url
    workers = client.taskrouter.v1.workspaces(workspace_sid).workers
    try:

        async def call(i: int) -> bool:
            worker = await workers(sids[i % len(sids)]).fetch_async()
            return bool(worker.sid)

        return await closed_loop(call, concurrency, Window(warmup, seconds), mark)
    finally:
        await http_client.close()
