"""A lean HTTP/1.1 keep-alive load client on asyncio protocols: prebuilt request bytes in, status codes out.

Why not aiohttp's client: it costs several times what a bare aiohttp server spends on a request, so on one
load core it, not the server, would set the pace. Here a request is one transport.write() of bytes built
beforehand, and a response is a header scan for the status and Content-Length.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

_HEADER_END = b"\r\n\r\n"


class ProtocolError(Exception):
    """The server sent something this client does not parse (chunked bodies, garbage)."""


def build_request(
    method: str, path: str, host: str, *, headers: Sequence[tuple[str, str]] = (), body: bytes = b""
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        lowered = name.strip().lower()
        if lowered == b"content-length":
            return int(value.strip())
        if lowered == b"transfer-encoding":
            raise ProtocolError("chunked responses are not supported by this load client")
    return 0


class Connection(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[int] | None = None
        self._lost: BaseException | None = None

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(cls, host, port)
        return protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = exc or ConnectionResetError("server closed the connection")
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(self._lost)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        end = buffer.find(_HEADER_END)
        if end < 0:
            return
        head = bytes(buffer[:end])
        try:
            total = end + 4 + _content_length(head)
            status = int(head[9:12])
        except (ValueError, ProtocolError) as exc:
            self._fail(exc if isinstance(exc, ProtocolError) else ProtocolError(f"bad response head {head[:80]!r}"))
            return
        if len(buffer) < total:
            return
        del buffer[:total]
        if buffer:
            self._fail(ProtocolError("response bytes arrived with no request in flight"))
            return
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(status)

    def _fail(self, exc: Exception) -> None:
        self._lost = exc
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)
        if self._transport is not None:
            self._transport.close()

    def send(self, request: bytes) -> asyncio.Future[int]:
        """Writes the request; the future gets the response's status code."""
        if self._lost is not None:
            raise ConnectionError(f"connection is gone: {self._lost}")
        if self._waiter is not None:
            raise RuntimeError("one request at a time per connection")
        assert self._transport is not None
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        self._transport.write(request)
        return waiter

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
