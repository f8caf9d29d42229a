"""The client scenario every language runs against a live gateway (also a complete usage example).

    python scenario.py HOST:PORT WORKSPACE_SID

Creates a worker, lists it by TargetWorkersExpression, updates it with its etag, reads the ABORTED of a stale
etag and the INVALID_ARGUMENT of a bad name, then streams its events, disconnects and resumes from the cursor.
Exits non-zero (AssertionError) on any deviation.
"""

from __future__ import annotations

import json
import sys
import uuid

import grpc
from taskrouter.gateway.v1 import event_service_pb2 as e
from taskrouter.gateway.v1 import event_service_pb2_grpc, worker_service_pb2_grpc
from taskrouter.gateway.v1 import worker_service_pb2 as w
from taskrouter_gateway_client import bad_request_from, channel, error_info_from


def level(streamed: e.StreamedEvent) -> int:
    return int(json.loads(streamed.event.worker.worker_attributes)["level"])


def main(target: str, ws: str) -> None:
    with channel(target) as ch:
        workers = worker_service_pb2_grpc.WorkerServiceStub(ch)
        events = event_service_pb2_grpc.EventServiceStub(ch)
        tag = uuid.uuid4().hex[:12]

        # 1. create; 2. list by TargetWorkersExpression.
        alice = workers.CreateWorker(w.CreateWorkerRequest(
            workspace_sid=ws, friendly_name=f"py-{tag}", attributes=json.dumps({"tag": tag, "level": 1})), timeout=10)
        page = workers.ListWorkers(w.ListWorkersRequest(
            workspace_sid=ws, target_workers_expression=f"tag == '{tag}'"), timeout=10)
        assert [x.sid for x in page.workers] == [alice.sid], page

        # 3. update with the etag just read.
        updated = workers.UpdateWorker(w.UpdateWorkerRequest(
            workspace_sid=ws, sid=alice.sid, attributes=json.dumps({"tag": tag, "level": 2}), etag=alice.etag),
            timeout=10)
        assert updated.etag and updated.etag != alice.etag

        # 4. a stale etag: ABORTED, with Twilio's code in the ErrorInfo.
        try:
            workers.UpdateWorker(w.UpdateWorkerRequest(
                workspace_sid=ws, sid=alice.sid, attributes="{}", etag=alice.etag), timeout=10)
            raise AssertionError("a stale etag was accepted")
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.ABORTED, err
            info, _ = error_info_from(err)
            assert info.metadata["twilio_code"] == "20412", info

        # 5. a bad name: INVALID_ARGUMENT with a BadRequest naming the field.
        try:
            workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="x" * 65), timeout=10)
            raise AssertionError("a 65-character name was accepted")
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err
            bad = bad_request_from(err)
            assert bad is not None and [v.field for v in bad.field_violations] == ["friendly_name"], bad

        # 6. stream worker.* events: wait for the headers (subscribed), change the worker, read its events.
        request = e.StreamEventsRequest(workspace_sid=ws, event_types=["worker.*"], worker_sid=alice.sid)
        stream = events.StreamEvents(request, timeout=30)
        stream.initial_metadata()  # blocks until the gateway has registered the subscription
        for n in (3, 4):
            workers.UpdateWorker(w.UpdateWorkerRequest(
                workspace_sid=ws, sid=alice.sid, attributes=json.dumps({"tag": tag, "level": n})), timeout=10)
        # Events committed after the headers, in order. Callbacks reach the gateway asynchronously, so the
        # worker's earlier events (created, level 2) may still arrive first: they come before level 3.
        first = next(x for message in stream for x in message.events if level(x) >= 3)
        stream.cancel()  # disconnect after the first of our changes
        assert first.event.worker.worker_sid == alice.sid

        # Resume after the last cursor: the next event, with no gap and no duplicate.
        workers.UpdateWorker(w.UpdateWorkerRequest(
            workspace_sid=ws, sid=alice.sid, attributes=json.dumps({"tag": tag, "level": 5})), timeout=10)
        request.after_cursor = first.cursor
        resumed = events.StreamEvents(request, timeout=30)
        got = []
        for message in resumed:
            got.extend(message.events)
            if len(got) >= 2:
                break
        resumed.cancel()
        levels = [level(x) for x in got[:2]]
        assert level(first) == 3 and levels == [4, 5], levels
        assert first.cursor not in {x.cursor for x in got}
    print("scenario passed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
