"""Load job for the features section: WorkerService.GetWorker over TLS with a bearer token (or plaintext)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
from taskrouter.gateway.v1 import worker_service_pb2 as svc
from taskrouter.gateway.v1 import worker_service_pb2_grpc

from .window import Mark, Window, closed_loop


async def grpc_get_worker(
    mark: Mark, shared: Any, *, target: str, workspace_sid: str, sids: list[str], concurrency: int,
    warmup: float, seconds: float, ca_pem: str | None = None, token: str | None = None,
) -> dict[str, object]:
    """As jobs_unary.grpc_get_worker, plus TLS (trusting `ca_pem`) and `authorization: Bearer <token>`."""
    requests = [svc.GetWorkerRequest(workspace_sid=workspace_sid, sid=sid) for sid in sids]
    metadata = (("authorization", f"Bearer {token}"),) if token else None
    if ca_pem:
        creds = grpc.ssl_channel_credentials(root_certificates=Path(ca_pem).read_bytes())  # before any load
        channel = grpc.aio.secure_channel(target, creds)
    else:
        channel = grpc.aio.insecure_channel(target)
    async with channel:
        await channel.channel_ready()
        stub = worker_service_pb2_grpc.WorkerServiceStub(channel)

        async def call(i: int) -> bool:
            worker = await stub.GetWorker(requests[i % len(requests)], metadata=metadata, timeout=30)
            return bool(worker.sid)

        return await closed_loop(call, concurrency, Window(warmup, seconds), mark)
