"""Restarts in embedded mode: the event log and the emulator's state live in one data directory, so a second
start carries on the same emulator lifetime in the same log instead of mixing two."""

from __future__ import annotations

import asyncio

import grpc

from taskrouter.gateway.v1 import worker_service_pb2 as workers, worker_service_pb2_grpc
from taskrouter_gateway.app import Gateway
from taskrouter_gateway.config import Settings


async def _logged(gw: Gateway, event_type: str) -> None:
    assert gw.event_log is not None
    for _ in range(3000):
        if any(r.event_type == event_type for r in await gw.event_log.read_after(0, limit=10_000)):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"no {event_type} logged")


async def _run_once(data_dir, create: bool) -> tuple[list[str], list[tuple[str, str]]]:
    """Starts an embedded gateway on `data_dir`; returns (worker names, (sid, type) of each logged event)."""
    gw = Gateway(Settings(grpc_port=0, webhook_port=0, data_dir=str(data_dir), shutdown_grace_seconds=0.5).validate())
    await gw.start()
    try:
        assert gw.backfill_task is not None
        await gw.backfill_task  # the start-up backfill has read what the emulator recorded
        ws = gw.default_workspace_sid
        async with grpc.aio.insecure_channel(gw.grpc_target) as channel:
            stub = worker_service_pb2_grpc.WorkerServiceStub(channel)
            if create:
                await stub.CreateWorker(workers.CreateWorkerRequest(workspace_sid=ws, friendly_name="Kept"), timeout=10)
                await _logged(gw, "worker.created")  # the callback arrived before we stop
            listed = await stub.ListWorkers(workers.ListWorkersRequest(workspace_sid=ws), timeout=10)
        names = [w.friendly_name for w in listed.workers]
        assert gw.event_log is not None
        sids = [(record.sid, record.event_type) for record in await gw.event_log.read_after(0, limit=10_000)]
        return names, sids
    finally:
        await gw.stop(0)


async def test_a_second_start_continues_the_same_emulator_in_the_same_log(tmp_path):
    data_dir = tmp_path / "data"
    names, first_sids = await _run_once(data_dir, create=True)
    assert names == ["Kept"]
    assert sorted(p.name for p in data_dir.iterdir() if p.suffix == ".sqlite3") == ["emulator.sqlite3", "events.sqlite3"]
    names, second_sids = await _run_once(data_dir, create=False)
    assert names == ["Kept"]  # the emulator's state survived the restart
    # The log holds one emulator lifetime: what the first run logged, then only the second start's own
    # change (the default workspace's callback URL now names the new webhook port), no second set of the
    # emulator's start-up events.
    assert second_sids[: len(first_sids)] == first_sids
    assert [event_type for _, event_type in second_sids[len(first_sids):]] == ["workspace.updated"]
    assert len({sid for sid, _ in second_sids}) == len(second_sids)
