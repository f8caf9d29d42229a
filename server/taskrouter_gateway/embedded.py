"""Starts the TaskRouter emulator in-process when no Twilio credentials are set.

The only import across to the emulator; everything else reaches it over HTTP, exactly as it reaches Twilio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config import Settings


@dataclass(frozen=True)
class EmbeddedUpstream:
    base_url: str
    account_sid: str
    auth_token: str
    default_workspace_sid: str
    handle: Any  # the RunningEmulator, stopped by stop()

    async def stop(self) -> None:
        await self.handle.stop()


async def start(settings: Settings) -> EmbeddedUpstream:
    from taskrouter_emulator.config import EmulatorConfig
    from taskrouter_emulator.server import start_emulator

    running = await start_emulator(
        EmulatorConfig(host="127.0.0.1", port=settings.emulator_port, state_file=settings.emulator_state)
    )
    config = running.config
    return EmbeddedUpstream(
        base_url=running.base_url,
        account_sid=config.account_sid,
        auth_token=config.auth_token,
        default_workspace_sid=config.default_workspace_sid,
        handle=running,
    )
