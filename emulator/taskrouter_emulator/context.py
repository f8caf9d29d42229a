"""What handlers share, stored on the aiohttp app under CONTEXT."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from .assignment import AssignmentDispatcher
from .callbacks import CallbackDispatcher
from .config import EmulatorConfig
from .faults import FaultInjector
from .store import Store


@dataclass
class EmulatorContext:
    config: EmulatorConfig
    store: Store
    faults: FaultInjector
    dispatcher: CallbackDispatcher
    assignments: AssignmentDispatcher | None = None
    # Set by server.start_emulator once the socket is bound (port 0 is only known then).
    base_url: str | None = None

    def base(self, request: web.Request) -> str:
        """The prefix of absolute URLs in responses: the bound/public base URL, else the request's origin."""
        return self.base_url or f"{request.scheme}://{request.host}"


CONTEXT = web.AppKey("taskrouter_emulator.context", EmulatorContext)
