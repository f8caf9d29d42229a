"""The README's Python example: a worker named Alice in the emulator's default workspace, found or created,
listed by skill and updated with optimistic concurrency. Safe to run again: it reuses Alice.

    ./dev example                      # against ./dev serve on 127.0.0.1:50051
    ./dev example --target HOST:PORT --workspace WS...
"""

from __future__ import annotations

import argparse
import json

import grpc

from taskrouter.gateway.v1 import worker_service_pb2 as workers, worker_service_pb2_grpc

DEFAULT_WORKSPACE = "WS00000000000000000000000000000001"  # the emulator's default workspace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="127.0.0.1:50051", help="the gateway's gRPC address")
    parser.add_argument("--workspace", default=DEFAULT_WORKSPACE, help="WS SID of the workspace")
    args = parser.parse_args()
    ws = args.workspace

    with grpc.insecure_channel(args.target) as channel:
        stub = worker_service_pb2_grpc.WorkerServiceStub(channel)
        found = stub.ListWorkers(workers.ListWorkersRequest(workspace_sid=ws, friendly_name="Alice"), timeout=10)
        if found.workers:
            # Lists carry no etag: fetch Alice to get the one the update needs.
            alice = stub.GetWorker(workers.GetWorkerRequest(workspace_sid=ws, sid=found.workers[0].sid), timeout=10)
            print(f"found Alice from an earlier run: {alice.sid}")
        else:
            alice = stub.CreateWorker(workers.CreateWorkerRequest(
                workspace_sid=ws, friendly_name="Alice", attributes='{"skills": ["sales"], "level": 3}'), timeout=10)
            print(f"created Alice: {alice.sid} (activity {alice.activity_name})")

        page = stub.ListWorkers(workers.ListWorkersRequest(
            workspace_sid=ws, target_workers_expression="skills HAS 'sales'", page_size=100), timeout=10)
        print(f"workers with skill 'sales': {', '.join(w.friendly_name for w in page.workers) or 'none'}")

        # Optimistic concurrency: pass the etag you read; a concurrent change gives ABORTED.
        updated = stub.UpdateWorker(workers.UpdateWorkerRequest(
            workspace_sid=ws, sid=alice.sid, attributes='{"skills": ["sales", "support"], "level": 3}',
            etag=alice.etag), timeout=10)
        print(f"updated Alice's skills to {json.loads(updated.attributes)['skills']} (etag {updated.etag})")


if __name__ == "__main__":
    main()
