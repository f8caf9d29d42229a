"""Task routing: the routing engine's throughput at W/4 and W workers over 50 queues against the
linear ceiling, and CreateTask -> reservation.created at a gateway subscriber (bench/routing.py does both)."""

from __future__ import annotations

from typing import Any

from .. import routing
from ..context import RunContext


def run(ctx: RunContext) -> dict[str, Any]:
    return routing.run(ctx.size.name)
