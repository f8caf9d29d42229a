"""A real gateway in front of a real emulator, run on an event loop in a background thread.

For hypothesis tests: @given drives a synchronous test body many times, so the servers live in their own
thread for the whole module and each example talks to them over real sockets (HTTP, gRPC).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from taskrouter_emulator.config import EmulatorConfig
from taskrouter_emulator.server import start_emulator
from taskrouter_gateway.app import Gateway
from taskrouter_gateway.config import Settings


class ThreadedGateway:
    def __init__(self, gateway: Gateway, emulator: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.gateway = gateway
        self.emulator = emulator
        self.loop = loop

    def run(self, coro: Any, timeout: float = 30) -> Any:
        """Run a coroutine on the servers' loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


@contextlib.contextmanager
def threaded_gateway(event_log: Path, **overrides: Any) -> Iterator[ThreadedGateway]:
    loop = asyncio.new_event_loop()
    ready: Future[ThreadedGateway] = Future()
    stop = asyncio.Event()

    async def main() -> None:
        emulator = await start_emulator(EmulatorConfig(host="127.0.0.1", port=0))
        cfg = emulator.config
        values: dict[str, Any] = dict(
            grpc_port=0, webhook_port=0, event_log_path=str(event_log), backfill_on_start=False,
            account_sid=cfg.account_sid, auth_token=cfg.auth_token, taskrouter_base_url=emulator.base_url,
            api_base_url=emulator.base_url, shutdown_grace_seconds=0.5,
        )
        values.update(overrides)
        gateway = Gateway(Settings(**values).validate())
        try:
            await gateway.start()
        except BaseException as exc:
            await emulator.stop()
            ready.set_exception(exc)
            return
        ready.set_result(ThreadedGateway(gateway, emulator, loop))
        await stop.wait()
        await gateway.stop(0)
        await emulator.stop()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        yield ready.result(60)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()
