"""A storm of 429s on half the GETs: idempotent calls with a 10 s deadline retry until they get through.

Counted by outcome, never timed: every one of 500 GetWorker/ListWorkers calls must succeed, and the
emulator must have answered many more GETs than that (the retries really happened). Coalescing is off here,
so each call makes its own requests: this is about retries, not about sharing (test_reads.py).
"""

from __future__ import annotations

import asyncio
from collections import Counter

import grpc

from taskrouter.gateway.v1 import worker_service_pb2 as workers, worker_service_pb2_grpc

CALLS = 500
CONCURRENCY = 50  # the deadline is per call; this only keeps 500 calls from queueing behind each other


async def test_half_the_gets_rate_limited_and_every_call_with_a_deadline_succeeds(make_gateway, emulator,
                                                                                    emulator_admin):
    gateway = await make_gateway(coalesce_reads=False)
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        await _storm(worker_service_pb2_grpc.WorkerServiceStub(channel), emulator, emulator_admin)


async def _storm(stub, emulator, emulator_admin) -> None:
    ws = emulator.config.default_workspace_sid
    worker = await stub.CreateWorker(workers.CreateWorkerRequest(workspace_sid=ws, friendly_name="storm"), timeout=10)
    # Half the GETs answer 429: 40% with Retry-After 0, 10% with Retry-After 1 (1/6 of the other 60%).
    for retry_after, fraction, seed in ((0, 0.4, 1), (1, 1 / 6, 2)):
        await emulator_admin.add_rest_fault(path=f"/v1/Workspaces/{ws}/Workers", method="GET", status=429,
                                            retry_after=retry_after, fraction=fraction, seed=seed)
    seen_before = await emulator_admin.requests_seen()
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(n: int) -> grpc.StatusCode:
        async with limit:
            try:
                if n % 2:
                    await stub.GetWorker(workers.GetWorkerRequest(workspace_sid=ws, sid=worker.sid), timeout=10)
                else:
                    await stub.ListWorkers(workers.ListWorkersRequest(workspace_sid=ws, page_size=5), timeout=10)
            except grpc.aio.AioRpcError as err:
                return err.code()
            return grpc.StatusCode.OK

    outcomes = Counter(await asyncio.gather(*(one(n) for n in range(CALLS))))
    assert outcomes == {grpc.StatusCode.OK: CALLS}
    rate_limited = sum(rule["injected"] for rule in (await emulator_admin.faults())["rest"])
    upstream_gets = await emulator_admin.requests_seen() - seen_before
    # Every call got through once; everything else the emulator answered was a 429 that was retried.
    assert upstream_gets - rate_limited == CALLS
    assert rate_limited > CALLS / 2, rate_limited
