"""Running the emulator in-process: `start_emulator(config)` binds it and returns a handle; the gateway and
the tests embed it this way and then talk to it over HTTP only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

from .app import create_app
from .config import EmulatorConfig, local_url
from .context import CONTEXT, EmulatorContext


@dataclass
class RunningEmulator:
    config: EmulatorConfig
    app: web.Application
    base_url: str  # e.g. http://127.0.0.1:8181, no trailing slash; the public base URL when one is set
    port: int  # the bound port (the real one when the config asked for 0)
    _runner: web.AppRunner = field(repr=False)
    _stopped: bool = field(default=False, repr=False)

    @property
    def local_url(self) -> str:
        """The bound socket's own URL (differs from base_url only when a public base URL is set)."""
        return local_url(self.config.host, self.port)

    @property
    def context(self) -> EmulatorContext:
        """Store, fault injector and dispatcher, for tests that must reach behind the HTTP API."""
        return self.app[CONTEXT]

    async def stop(self) -> None:
        """Close the listening socket and open connections, then stop the dispatcher. Idempotent."""
        if not self._stopped:
            self._stopped = True
            await self._runner.cleanup()


async def start_emulator(config: EmulatorConfig | None = None) -> RunningEmulator:
    config = config or EmulatorConfig()
    app = create_app(config)
    # No access log: it would cost more than serving a worker fetch.
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port)
        await site.start()
        port = runner.addresses[0][1]
    except BaseException:
        await runner.cleanup()
        raise
    base_url = config.bound_base_url(port)
    app[CONTEXT].base_url = base_url
    return RunningEmulator(config=config, app=app, base_url=base_url, port=port, _runner=runner)


@asynccontextmanager
async def run_emulator(config: EmulatorConfig | None = None) -> AsyncIterator[RunningEmulator]:
    running = await start_emulator(config)
    try:
        yield running
    finally:
        await running.stop()
