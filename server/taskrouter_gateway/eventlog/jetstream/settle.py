"""Waiting out a JetStream cluster that is still forming, when a replica starts with (or just after) its brokers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

import nats.js.errors

T = TypeVar("T")

# nats-server's codes for a cluster that has not yet seen all its peers or elected a meta leader: "no suitable
# peers for placement" and "JetStream system temporarily unavailable". Anything else is a real answer.
FORMING_CODES: Final = frozenset({10005, 10008})


def cluster_forming(exc: BaseException) -> bool:
    return isinstance(exc, nats.js.errors.APIError) and exc.err_code in FORMING_CODES


async def once_formed(op: Callable[[], Awaitable[T]], *, within_s: float, pause_s: float = 0.25,
                      settling: Callable[[BaseException], bool] = cluster_forming) -> T:
    """`op()`, tried again while the cluster is forming (or `settling` says the error will pass), until
    `within_s` has passed; then its last error."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        try:
            return await op()
        except nats.js.errors.APIError as exc:
            if not settling(exc) or loop.time() + pause_s > deadline:
                raise
        await asyncio.sleep(pause_s)
