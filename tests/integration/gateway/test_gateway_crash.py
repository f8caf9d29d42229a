"""SIGKILL the gateway mid-burst of callbacks: every event it answered 204 still reaches a resuming subscriber, once."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import time
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from twilio.request_validator import RequestValidator

from taskrouter.gateway.v1 import event_service_pb2 as e, event_service_pb2_grpc

ACCOUNT = "AC" + "c" * 32
TOKEN = "crash-test-token"
WS = "WS" + "c" * 32
BURST = 400
KILL_AFTER = 120


async def _start(log_path: Path) -> tuple[subprocess.Popen, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "TASKROUTER_GATEWAY_"))}
    env.update(
        TWILIO_ACCOUNT_SID=ACCOUNT,
        TWILIO_AUTH_TOKEN=TOKEN,
        TASKROUTER_GATEWAY_TASKROUTER_BASE_URL="http://127.0.0.1:9",  # no upstream needed for this test
        TASKROUTER_GATEWAY_BACKFILL_ON_START="false",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "taskrouter_gateway.cli", "serve", "--grpc-port", "0", "--webhook-port", "0",
         "--event-log", str(log_path), "--log-format", "json", "--log-level", "warning"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 60)
    match = re.search(r"gRPC on ([\d.]+:\d+), event webhook on (\S+)", line)
    assert match, line
    return proc, match.group(1), match.group(2)


_T0_MS = time.time_ns() // 1_000_000  # dated now: a callback older than retention is refused


def _callback(i: int) -> dict[str, str]:
    return {
        "EventType": "worker.attributes.update", "AccountSid": ACCOUNT, "WorkspaceSid": WS,
        "WorkspaceName": "Crash", "EventDescription": f"burst {i}", "ResourceType": "Worker",
        "ResourceSid": "WK" + "d" * 32, "WorkerSid": "WK" + "d" * 32, "Timestamp": str((_T0_MS + i) // 1000),
        "TimestampMs": str(_T0_MS + i), "Sid": "EV" + secrets.token_hex(16),
    }


class Collector:
    def __init__(self, target: str, request: e.StreamEventsRequest) -> None:
        self.sids: list[str] = []
        self.cursor = ""
        self.changed = asyncio.Event()
        self.ended: grpc.aio.AioRpcError | None = None
        self._channel = grpc.aio.insecure_channel(target)
        self._call = event_service_pb2_grpc.EventServiceStub(self._channel).StreamEvents(request)
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        try:
            async for message in self._call:
                for item in message.events:
                    self.sids.append(item.event.sid)
                    self.cursor = item.cursor
                self.changed.set()
        except grpc.aio.AioRpcError as err:
            self.ended = err
            self.changed.set()

    async def wait_for(self, predicate, timeout: float = 60) -> None:
        async def loop():
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(loop(), timeout)

    async def close(self) -> None:
        self._call.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self._channel.close()


@pytest.mark.slow
async def test_sigkill_mid_burst_loses_no_acknowledged_event(tmp_path):
    log_path = tmp_path / "events.sqlite3"
    proc, target, webhook = await _start(log_path)
    validator = RequestValidator(TOKEN)
    acked: set[str] = set()
    try:
        # Replay from the log's start, so the priming event arrives however late the stream registers.
        first = Collector(target, e.StreamEventsRequest(workspace_sid=WS, since=Timestamp(seconds=0)))
        # Prime the stream so the subscriber holds a cursor before the burst.
        async with aiohttp.ClientSession() as http:
            async def send(params: dict[str, str]) -> None:
                headers = {"X-Twilio-Signature": validator.compute_signature(webhook, params)}
                try:
                    async with http.post(webhook, data=params, headers=headers) as resp:
                        if resp.status == 204:
                            acked.add(params["Sid"])
                            if len(acked) == KILL_AFTER:
                                proc.send_signal(signal.SIGKILL)
                except aiohttp.ClientError:
                    pass  # the gateway is gone: this one was never acknowledged

            await send(_callback(-1))
            await first.wait_for(lambda: len(first.sids) >= 1)
            sem = asyncio.Semaphore(16)

            async def bounded(i: int) -> None:
                async with sem:
                    await send(_callback(i))

            await asyncio.gather(*(bounded(i) for i in range(BURST)))
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        assert KILL_AFTER <= len(acked) < BURST + 1, len(acked)
        await first.wait_for(lambda: first.ended is not None)
        assert first.cursor
        await first.close()

        proc, target, webhook = await _start(log_path)
        resumed = Collector(target, e.StreamEventsRequest(workspace_sid=WS, after_cursor=first.cursor))
        await resumed.wait_for(lambda: acked <= set(first.sids) | set(resumed.sids))
        await resumed.close()
        everything = first.sids + resumed.sids
        assert len(everything) == len(set(everything)), "an event arrived twice"
        assert acked <= set(everything)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
