"""Starts the TaskRouter emulator in-process when no Twilio credentials are set.

The only import across to the emulator; everything else reaches it over HTTP, exactly as it reaches Twilio.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from .settings_base import check_port


@dataclass(frozen=True)
class EmbeddedSettings:
    port: int = 0
    state_file: str | None = None  # None: state in memory
    # The emulator POSTs only to loopback callback URLs and these hosts (the gateway's own webhook hosts) unless
    # allow_remote_callbacks: with auth off, any caller could otherwise make the gateway's host send requests
    # anywhere.
    callback_hosts: frozenset[str] = frozenset()
    allow_remote_callbacks: bool = False

    def validate(self) -> None:
        check_port("emulator_port", self.port)


@dataclass(frozen=True)
class EmbeddedUpstream:
    base_url: str
    account_sid: str
    auth_token: str
    default_workspace_sid: str
    handle: Any  # the RunningEmulator, stopped by stop()

    async def stop(self) -> None:
        await self.handle.stop()


@contextlib.asynccontextmanager
async def running(settings: EmbeddedSettings) -> AsyncIterator[EmbeddedUpstream]:
    from taskrouter_emulator.config import EmulatorConfig
    from taskrouter_emulator.server import start_emulator

    handle = await start_emulator(
        EmulatorConfig(
            host="127.0.0.1",
            port=settings.port,
            state_file=settings.state_file,
            allow_remote_callbacks=settings.allow_remote_callbacks,
            callback_hosts=settings.callback_hosts,
        )
    )
    config = handle.config
    upstream = EmbeddedUpstream(
        base_url=handle.base_url,
        account_sid=config.account_sid,
        auth_token=config.auth_token,
        default_workspace_sid=config.default_workspace_sid,
        handle=handle,
    )
    try:
        yield upstream
    finally:
        await upstream.stop()
