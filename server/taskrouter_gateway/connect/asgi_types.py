"""The ASGI callables' types as this package uses them, and the one way it answers a request itself (the
console's files, CORS preflights, a refused protocol): a whole response, status, headers and body at once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


async def respond(send: Send, status: int, headers: Sequence[tuple[bytes, bytes]], body: bytes = b"",
                  length: int | None = None) -> None:
    """`length`: the Content-Length to state when it is not len(body) (a HEAD answers with none)."""
    all_headers = [*headers, (b"content-length", str(len(body) if length is None else length).encode())]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body})
