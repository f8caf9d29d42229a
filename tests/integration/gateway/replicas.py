"""Gateway replicas as real processes on one JetStream stream, and signed callbacks to send them.

Every replica gets the same --webhook-public-url (the one URL TaskRouter would call, behind a load balancer),
so a callback signed for it verifies on whichever replica receives it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time

import aiohttp
from natsutil import NatsCluster, free_port
from twilio.request_validator import RequestValidator

ACCOUNT = "AC" + "5" * 32
TOKEN = "scale-out-token"
WS = "WS" + "5" * 32
PUBLIC_URL = "https://gateway.example.test/twilio/taskrouter/events"
_BANNER = re.compile(r"gRPC on ([\d.]+:\d+), event webhook on (\S+)")


class Replica:
    """`python -m taskrouter_gateway.cli serve --event-backend nats ...`; lines of its stdout kept in `lines`."""

    def __init__(self, cluster: NatsCluster, stream: str, *, replicas: int = 3, env: dict[str, str] | None = None,
                 log_level: str = "warning") -> None:
        self.webhook_port = free_port()
        self.webhook = f"http://127.0.0.1:{self.webhook_port}/twilio/taskrouter/events"
        base = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "TASKROUTER_GATEWAY_"))}
        base.update(
            TWILIO_ACCOUNT_SID=ACCOUNT,
            TWILIO_AUTH_TOKEN=TOKEN,
            TASKROUTER_GATEWAY_TASKROUTER_BASE_URL="http://127.0.0.1:9",  # no upstream unless a test sets one
            TASKROUTER_GATEWAY_BACKFILL_ON_START="false",
        )
        base.update(env or {})
        self.args = [
            sys.executable, "-m", "taskrouter_gateway.cli", "serve", "--grpc-port", "0",
            "--webhook-port", str(self.webhook_port), "--webhook-public-url", PUBLIC_URL,
            "--event-backend", "nats", "--nats-url", cluster.url_list, "--nats-stream", stream,
            "--nats-subject-prefix", stream.lower(), "--nats-replicas", str(replicas),
            "--log-format", "json", "--log-level", log_level,
        ]
        self.env = base
        self.lines: list[str] = []
        self.target = ""
        self.process: subprocess.Popen[str] | None = None
        self._banner = threading.Event()

    def start(self) -> Replica:
        self.process = subprocess.Popen(self.args, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True)
        threading.Thread(target=self._read, args=(self.process,), daemon=True).start()
        return self

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line.rstrip("\n"))
            match = _BANNER.search(line)
            if match:
                self.target = match.group(1)
                self._banner.set()

    async def ready(self, timeout: float = 60) -> Replica:
        started = time.monotonic()
        while not self._banner.is_set():
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError("replica exited before serving:\n" + "\n".join(self.lines[-20:]))
            if time.monotonic() - started > timeout:
                raise TimeoutError("replica did not start:\n" + "\n".join(self.lines[-20:]))
            await asyncio.sleep(0.05)
        return self

    def json_lines(self) -> list[dict]:
        out = []
        for line in list(self.lines):
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


async def start_replicas(cluster: NatsCluster, stream: str, count: int, **options) -> list[Replica]:
    # The first creates the stream; the others then find it (concurrent creation would race on the config).
    first = await Replica(cluster, stream, **options).start().ready()
    rest = [Replica(cluster, stream, **options).start() for _ in range(count - 1)]
    for replica in rest:
        await replica.ready()
    return [first, *rest]


_T0_MS = time.time_ns() // 1_000_000  # callbacks are dated now: older than retention would be refused


def callback(i: int, sid: str | None = None) -> dict[str, str]:
    return {
        "EventType": "worker.attributes.update", "AccountSid": ACCOUNT, "WorkspaceSid": WS,
        "WorkspaceName": "Scale", "EventDescription": f"event {i}", "ResourceType": "Worker",
        "ResourceSid": "WK" + "6" * 32, "WorkerSid": "WK" + "6" * 32, "Timestamp": str((_T0_MS + i) // 1000),
        "TimestampMs": str(_T0_MS + i), "Sid": sid or "EV" + secrets.token_hex(16),
    }


_validator = RequestValidator(TOKEN)


def signature(params: dict[str, str]) -> str:
    return _validator.compute_signature(PUBLIC_URL, params)


async def post(http: aiohttp.ClientSession, replica: Replica, params: dict[str, str]) -> int:
    """The HTTP status, or 0 when the replica could not be reached."""
    try:
        async with http.post(replica.webhook, data=params, headers={"X-Twilio-Signature": signature(params)},
                             timeout=aiohttp.ClientTimeout(total=30)) as resp:
            await resp.read()
            return resp.status
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return 0


class Subscriber:
    """StreamEvents on one replica in the background: every (sid, cursor) in arrival order, and how it ended."""

    def __init__(self, target: str, request) -> None:
        import grpc

        from taskrouter.gateway.v1 import event_service_pb2_grpc

        self.items: list[tuple[str, str]] = []
        self.ended: Exception | None = None
        self._changed = asyncio.Event()
        self._channel = grpc.aio.insecure_channel(target)
        self._call = event_service_pb2_grpc.EventServiceStub(self._channel).StreamEvents(request)
        self._task = asyncio.ensure_future(self._run())

    @property
    def sids(self) -> list[str]:
        return [sid for sid, _ in self.items]

    @property
    def cursor(self) -> str:
        return self.items[-1][1] if self.items else ""

    async def _run(self) -> None:
        import grpc

        try:
            async for message in self._call:
                self.items.extend((item.event.sid, item.cursor) for item in message.events)
                self._changed.set()
        except grpc.aio.AioRpcError as err:
            self.ended = err
            self._changed.set()

    async def wait_for(self, predicate, timeout: float = 60) -> None:
        async def loop() -> None:
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(loop(), timeout)

    async def close(self) -> None:
        self._call.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self._channel.close()
