"""`taskrouter-gateway tail`: a live, one-line-per-event view of StreamEvents in a terminal."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime, timezone
from typing import TextIO

import grpc
from google.protobuf import timestamp_pb2

from taskrouter.gateway.v1 import event_pb2, event_service_pb2 as svc, event_service_pb2_grpc


def format_event(event: event_pb2.Event, cursor: str, *, show_pii: bool = False) -> str:
    """`2026-11-22T08:30:01.123Z  worker.activity.update  WK…  activity=Available  [cursor]`."""
    when = datetime.fromtimestamp(event.event_date_ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds")
    parts = [when.replace("+00:00", "Z"), f"{event.event_type:<28}", event.resource_sid or "-"]
    if event.HasField("worker") and event.worker.worker_activity_name:
        parts.append(f"activity={event.worker.worker_activity_name}")
    if event.HasField("task") and event.task.task_assignment_status:
        parts.append(f"task={event.task.task_assignment_status}")
    if show_pii and event.description:
        parts.append(repr(event.description))
    parts.append(f"[{cursor}]")
    return "  ".join(parts)


def build_request(args) -> svc.StreamEventsRequest:
    request = svc.StreamEventsRequest(workspace_sid=args.workspace, event_types=args.event_types or [])
    for field in ("resource_sid", "worker_sid", "task_sid", "task_queue_sid", "workflow_sid", "reservation_sid"):
        value = getattr(args, field)
        if value:
            setattr(request, field, value)
    if args.after:
        request.after_cursor = args.after
    elif args.since:
        since = timestamp_pb2.Timestamp()
        since.FromJsonString(args.since if "T" in args.since else args.since + "T00:00:00Z")
        request.since.CopyFrom(since)
    else:
        request.start_at_now = True
    return request


async def run_tail(args, out: TextIO = sys.stdout) -> int:
    try:
        request = build_request(args)
    except ValueError as exc:
        print(f"taskrouter-gateway tail: --since: {exc}", file=sys.stderr)
        return 2
    shown = 0
    async with grpc.aio.insecure_channel(args.target) as channel:
        stub = event_service_pb2_grpc.EventServiceStub(channel)
        try:
            async for message in stub.StreamEvents(request):
                for item in message.events:
                    print(format_event(item.event, item.cursor, show_pii=args.show_pii), file=out, flush=True)
                    shown += 1
                    if args.limit and shown >= args.limit:
                        return 0
        except grpc.aio.AioRpcError as err:
            print(f"taskrouter-gateway tail: {err.code().name}: {err.details()}", file=sys.stderr)
            return 1
    return 0


def add_tail_arguments(parser) -> None:
    parser.add_argument("--target", default="127.0.0.1:50051", help="the gateway's gRPC address [default %(default)s]")
    parser.add_argument("--workspace", required=True, help="WS SID of the workspace to follow (required)")
    parser.add_argument("--type", dest="event_types", action="append",
                        help="event type, exact or a prefix wildcard like worker.*; repeatable")
    for field, flag in (("resource_sid", "--resource"), ("worker_sid", "--worker"), ("task_sid", "--task"),
                        ("task_queue_sid", "--task-queue"), ("workflow_sid", "--workflow"),
                        ("reservation_sid", "--reservation")):
        parser.add_argument(flag, dest=field, help=f"only events about this {field.removesuffix('_sid').replace('_', ' ')} SID")
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--after", metavar="CURSOR", help="resume after this cursor (printed at the end of each line)")
    start.add_argument("--since", metavar="TIME", help="replay from this RFC 3339 time or date, e.g. 2026-11-22T08:00:00Z")
    parser.add_argument("--limit", type=int, default=0, help="exit after this many events (0: follow forever)")
    parser.add_argument("--show-pii", action="store_true", help="also print event descriptions (PII)")


def main_tail(args) -> int:
    try:
        return asyncio.run(run_tail(args))
    except KeyboardInterrupt:
        return 130
