"""Starts the TaskRouter emulator in-process when no Twilio credentials are set.

The only import across to the emulator; everything else reaches it over HTTP, exactly as it reaches Twilio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

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


def own_webhook_hosts(settings: Settings) -> frozenset[str]:
    """The gateway's own webhook hosts (its listen host, the host of --webhook-public-url): the embedded
    emulator may call these even when it calls no other host besides loopback."""
    hosts = {settings.webhook_host}
    if settings.webhook_public_url:
        hosts.add(urlsplit(settings.webhook_public_url).hostname or "")
    return frozenset(host.lower() for host in hosts if host)


async def start(settings: Settings) -> EmbeddedUpstream:
    from taskrouter_emulator.config import EmulatorConfig
    from taskrouter_emulator.server import start_emulator

    running = await start_emulator(
        EmulatorConfig(
            host="127.0.0.1",
            port=settings.emulator_port,
            state_file=settings.emulator_state,
            allow_remote_callbacks=settings.emulator_allow_remote_callbacks,
            callback_hosts=own_webhook_hosts(settings),
        )
    )
    config = running.config
    return EmbeddedUpstream(
        base_url=running.base_url,
        account_sid=config.account_sid,
        auth_token=config.auth_token,
        default_workspace_sid=config.default_workspace_sid,
        handle=running,
    )
