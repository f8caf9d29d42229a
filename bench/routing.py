"""Routing benchmarks: the `routing` section of `./dev bench`, or alone with
`python -m bench.routing [--size smoke|full] [--output FILE]`.

1. Throughput in the emulator's routing engine (in process, no HTTP): tasks created, reserved, accepted and
   completed per second with W workers spread over 50 queues. Run at W/4 and W workers: the cost per task
   (one routing pass per operation) may grow at most linearly in workers, so the ratio
   cost(W) / cost(W/4) is printed against the linear ceiling W / (W/4) = 4.0 measured in the same run.
2. Latency from CreateTask (gRPC, through the gateway, to the emulator over HTTP) to its reservation.created
   event reaching a StreamEvents subscriber of the gateway: p50 and p99.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SIZES = {
    # workers (full W), tasks per throughput run, latency samples
    "smoke": {"workers": 200, "tasks": 200, "latency_samples": 20},
    "full": {"workers": 1000, "tasks": 3000, "latency_samples": 300},
}
QUEUES = 50


def _throughput(workers: int, tasks: int) -> dict[str, float]:
    from taskrouter_emulator.store import ReservationChange, Store, WorkerChange

    store = Store()
    store.set_virtual_clock(True, 1_700_000_000.0)
    ws = store.create_workspace("bench").sid
    available = next(a.sid for a in store.list_activities(ws) if a.friendly_name == "Available")
    queues = [store.create_task_queue(ws, f"q{i}", target_workers=f"q == {i}").sid for i in range(QUEUES)]
    filters = [{"expression": f"q == {i}", "targets": [{"queue": sid}]} for i, sid in enumerate(queues)]
    workflow = store.create_workflow(ws, "wf", json.dumps({"task_routing": {"filters": filters}})).sid
    sids = []
    for n in range(workers):
        worker, _ = store.create_worker(ws, f"w{n}", attributes=json.dumps({"q": n % QUEUES}))
        store.update_worker(ws, worker.sid, WorkerChange(activity_sid=available))
        sids.append(worker.sid)
    rs = store.space(ws).routing
    started = time.perf_counter()
    for n in range(tasks):
        task = store.create_task(ws, attributes=json.dumps({"q": n % QUEUES}), workflow_sid=workflow)
        (reservation,) = rs.active_reservations(task.sid, "pending")
        store.update_reservation(ws, reservation.sid, ReservationChange(reservation_status="accepted"))
        store.update_reservation(ws, reservation.sid, ReservationChange(reservation_status="completed"))
    elapsed = time.perf_counter() - started
    return {"workers": workers, "tasks": tasks, "seconds": elapsed, "tasks_per_second": tasks / elapsed,
            "ms_per_task": elapsed / tasks * 1000}


async def _latency(samples: int) -> dict[str, float]:
    import grpc

    from taskrouter.gateway.v1 import (
        event_service_pb2 as e,
        event_service_pb2_grpc,
        task_queue_service_pb2 as q,
        task_queue_service_pb2_grpc,
        task_service_pb2 as t,
        task_service_pb2_grpc,
        worker_service_pb2 as w,
        worker_service_pb2_grpc,
        workflow_pb2,
        workflow_service_pb2 as wf,
        workflow_service_pb2_grpc,
    )
    from taskrouter_emulator.config import EmulatorConfig
    from taskrouter_emulator.server import start_emulator
    from taskrouter_gateway.app import Gateway
    from taskrouter_gateway.config import Settings

    emulator = await start_emulator(EmulatorConfig(host="127.0.0.1", port=0))
    tmp = tempfile.TemporaryDirectory()
    cfg = emulator.config
    gateway = Gateway(Settings(
        grpc_port=0, webhook_port=0, event_log_path=str(Path(tmp.name) / "events.sqlite3"), backfill_on_start=False,
        account_sid=cfg.account_sid, auth_token=cfg.auth_token, taskrouter_base_url=emulator.base_url,
        api_base_url=emulator.base_url, shutdown_grace_seconds=1.0,
    ).validate())
    await gateway.start()
    try:
        async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
            ws = cfg.default_workspace_sid
            events = event_service_pb2_grpc.EventServiceStub(channel)
            await events.ConfigureEventCallback(e.ConfigureEventCallbackRequest(workspace_sid=ws))
            queue = await task_queue_service_pb2_grpc.TaskQueueServiceStub(channel).CreateTaskQueue(
                q.CreateTaskQueueRequest(workspace_sid=ws, friendly_name="bench"))
            workflow = await workflow_service_pb2_grpc.WorkflowServiceStub(channel).CreateWorkflow(
                wf.CreateWorkflowRequest(workspace_sid=ws, friendly_name="bench", task_routing=workflow_pb2.TaskRouting(
                    default_filter=workflow_pb2.WorkflowTarget(queue=queue.sid))))
            workers = worker_service_pb2_grpc.WorkerServiceStub(channel)
            available = next(a.sid for a in emulator.context.store.list_activities(ws) if a.available)
            for n in range(10):
                await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name=f"b{n}",
                                                                 activity_sid=available))
            tasks = task_service_pb2_grpc.TaskServiceStub(channel)
            stream = events.StreamEvents(e.StreamEventsRequest(workspace_sid=ws, event_types=["reservation.created"]))
            arrivals: asyncio.Queue[tuple[str, float]] = asyncio.Queue()

            async def pump() -> None:
                async for message in stream:
                    for item in message.events:
                        await arrivals.put((item.event.task.task_sid, time.perf_counter()))

            pumping = asyncio.ensure_future(pump())
            await asyncio.sleep(0.2)  # the subscription is registered before the first task
            latencies = []
            for _ in range(samples):
                started = time.perf_counter()
                task = await tasks.CreateTask(t.CreateTaskRequest(workspace_sid=ws, workflow_sid=workflow.sid))
                sid, arrived = await asyncio.wait_for(arrivals.get(), 10)
                assert sid == task.sid, (sid, task.sid)
                latencies.append((arrived - started) * 1000)
                await tasks.DeleteTask(t.DeleteTaskRequest(workspace_sid=ws, sid=task.sid))
            stream.cancel()
            pumping.cancel()
            await asyncio.gather(pumping, return_exceptions=True)
    finally:
        await gateway.stop(0)
        await emulator.stop()
        tmp.cleanup()
    latencies.sort()
    return {"samples": samples, "p50_ms": statistics.median(latencies),
            "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]}


def run(size: str) -> dict[str, Any]:
    counts = SIZES[size]
    small = _throughput(counts["workers"] // 4, counts["tasks"])
    large = _throughput(counts["workers"], counts["tasks"])
    ratio = large["ms_per_task"] / small["ms_per_task"]
    ceiling = large["workers"] / small["workers"]
    latency = asyncio.run(_latency(counts["latency_samples"]))
    return {
        "throughput": {"small": small, "large": large, "cost_ratio": ratio, "linear_ceiling": ceiling},
        "latency": latency,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.routing", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    result = run(args.size)
    tp, lat = result["throughput"], result["latency"]
    for label in ("small", "large"):
        row = tp[label]
        print(f"routing {row['workers']:>5} workers, {QUEUES} queues: {row['tasks_per_second']:8.0f} tasks/s "
              f"({row['ms_per_task']:.3f} ms per create+reserve+accept+complete)")
    within = tp["cost_ratio"] <= tp["linear_ceiling"]
    print(f"cost ratio {tp['cost_ratio']:.2f} vs linear ceiling {tp['linear_ceiling']:.2f}: "
          f"{'ok' if within else 'WORSE THAN LINEAR'}")
    print(f"CreateTask -> reservation.created at a StreamEvents subscriber: p50 {lat['p50_ms']:.1f} ms, "
          f"p99 {lat['p99_ms']:.1f} ms ({lat['samples']} samples)")
    if args.output:
        args.output.write_text(json.dumps(result, indent=2))
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
