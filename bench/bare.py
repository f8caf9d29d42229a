"""The ceilings: servers that do only the transport's part of the gateway's work, one OS process each.

    python -m bench.bare grpc-unary  --payload worker.bin   WorkerService/GetWorker returns a prebuilt Worker
    python -m bench.bare grpc-proxy  --payload worker.bin --upstream URL --authorization HEADER
                                     ... and first GETs the worker from URL/{workspace}/Workers/{sid}
                                     with one pooled aiohttp session: the floor of any gRPC-to-REST proxy
    python -m bench.bare grpc-stream --payload frame.bin [--batch N]
                                     EventService/StreamEvents yields prebuilt bytes: a one-event message,
                                     or N copies of it joined (a StreamEventsResponse of N events)
    python -m bench.bare http-204                           POST anything -> 204, the body left unread

Each prints "listening on 127.0.0.1:PORT" and serves until SIGTERM. Same grpc.aio / aiohttp defaults as
the gateway, no interceptors, no logging: whatever the gateway costs beyond these is its own.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import grpc
from aiohttp import web

from taskrouter.gateway.v1 import worker_pb2, worker_service_pb2_grpc

STREAM_SERVICE = "taskrouter.gateway.v1.EventService"
STREAM_METHOD = "StreamEvents"


class _PrebuiltWorkers(worker_service_pb2_grpc.WorkerServiceServicer):
    def __init__(self, worker: worker_pb2.Worker) -> None:
        self._worker = worker

    async def GetWorker(self, request, context):  # noqa: N802 - the generated servicer's name
        return self._worker


class _ProxiedWorkers(worker_service_pb2_grpc.WorkerServiceServicer):
    """Fetches the worker upstream (status checked, body read, nothing parsed), then answers prebuilt bytes."""

    def __init__(self, worker: worker_pb2.Worker, upstream: str, authorization: str) -> None:
        self._worker = worker
        self._upstream = upstream
        self._headers = {"Authorization": authorization, "Accept": "application/json"}
        self._session: aiohttp.ClientSession | None = None

    async def GetWorker(self, request, context):  # noqa: N802 - the generated servicer's name
        if self._session is None:
            self._session = aiohttp.ClientSession(headers=self._headers)
        url = f"{self._upstream}/v1/Workspaces/{request.workspace_sid}/Workers/{request.sid}"
        async with self._session.get(url) as response:
            await response.read()
            if response.status != 200:
                await context.abort(grpc.StatusCode.UNAVAILABLE, f"upstream HTTP {response.status}")
        return self._worker


def _stream_handler(frame: bytes) -> grpc.RpcMethodHandler:
    async def stream(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        while True:
            yield frame

    # Raw bytes both ways, as the gateway's StreamEvents sends its pre-serialized messages.
    return grpc.unary_stream_rpc_method_handler(stream, request_deserializer=None, response_serializer=None)


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def serve_grpc(kind: str, payload: bytes, upstream: str = "", authorization: str = "", batch: int = 1) -> None:
    server = grpc.aio.server()
    if kind == "grpc-unary":
        worker = worker_pb2.Worker.FromString(payload)
        worker_service_pb2_grpc.add_WorkerServiceServicer_to_server(_PrebuiltWorkers(worker), server)
    elif kind == "grpc-proxy":
        worker = worker_pb2.Worker.FromString(payload)
        servicer = _ProxiedWorkers(worker, upstream, authorization)
        worker_service_pb2_grpc.add_WorkerServiceServicer_to_server(servicer, server)
    else:
        handlers = {STREAM_METHOD: _stream_handler(payload * batch)}
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(STREAM_SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"listening on 127.0.0.1:{port}", flush=True)
    await _until_signalled()
    await server.stop(0)


async def serve_http_204() -> None:
    accepted = {"Content-Type": "application/json"}

    async def handle(request: web.Request) -> web.Response:
        return web.Response(status=204, headers=accepted)

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(f"listening on 127.0.0.1:{runner.addresses[0][1]}", flush=True)
    await _until_signalled()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=("grpc-unary", "grpc-proxy", "grpc-stream", "http-204"))
    parser.add_argument("--payload", type=Path, help="the prebuilt Worker / StreamEventsResponse bytes")
    parser.add_argument("--upstream", default="", help="grpc-proxy: the emulator's base URL")
    parser.add_argument("--authorization", default="", help="grpc-proxy: the Authorization header to send")
    parser.add_argument("--batch", type=int, default=1, help="grpc-stream: events per message [default 1]")
    args = parser.parse_args()
    if args.kind == "http-204":
        asyncio.run(serve_http_204())
        return
    if args.payload is None:
        parser.error(f"{args.kind} needs --payload")
    if args.kind == "grpc-proxy" and not args.upstream:
        parser.error("grpc-proxy needs --upstream")
    if args.batch < 1:
        parser.error("--batch must be >= 1")
    asyncio.run(serve_grpc(args.kind, args.payload.read_bytes(), args.upstream, args.authorization, args.batch))


if __name__ == "__main__":
    main()
