"""A scripted upstream for the gateway's HTTP client tests: a real aiohttp server on 127.0.0.1:0.

Each test queues replies per (method, path) and reads back every request received (method, path, query,
form body, headers, the client's TCP peer). Replies can also hang until the client gives up, or drop the
connection without answering.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl

import orjson
from aiohttp import web
from multidict import CIMultiDict


@dataclass(frozen=True)
class Reply:
    status: int = 200
    json: Any = None
    text: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    reason: str | None = None
    action: Literal["respond", "hang", "disconnect"] = "respond"


HANG = Reply(action="hang")
DISCONNECT = Reply(action="disconnect")


def twilio_error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    body = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}
    return Reply(status=status, json=body, headers=headers or {})


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: list[tuple[str, str]]
    form: list[tuple[str, str]]
    headers: CIMultiDict[str]
    peer: tuple[str, int]


class ScriptedUpstream:
    def __init__(self) -> None:
        self._scripts: dict[tuple[str, str], deque[Reply]] = {}
        self._forever: dict[tuple[str, str], Reply] = {}
        self.requests: list[Seen] = []
        self.arrived = asyncio.Event()  # set when a HANG reply starts waiting
        self.cancelled = asyncio.Event()  # set when a hanging handler is cancelled by the client going away
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def script(self, method: str, path: str, *replies: Reply) -> None:
        self._scripts.setdefault((method, path), deque()).extend(replies)

    def script_forever(self, method: str, path: str, reply: Reply) -> None:
        self._forever[(method, path)] = reply

    def seen(self, method: str | None = None, path: str | None = None) -> list[Seen]:
        return [r for r in self.requests if (method in (None, r.method)) and (path in (None, r.path))]

    @property
    def peers(self) -> set[tuple[str, int]]:
        """Distinct client TCP connections (local address, port) that carried requests."""
        return {r.peer for r in self.requests}

    async def start(self) -> str:
        return await self.start_on(0)

    async def start_on(self, port: int) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # handler_cancellation: a client that goes away cancels the handler, which is what tests observe.
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.text()
        peer = request.transport.get_extra_info("peername") if request.transport else ("?", 0)
        self.requests.append(
            Seen(
                method=request.method,
                path=request.path,
                query=list(request.query.items()),
                form=parse_qsl(raw, keep_blank_values=True),
                headers=CIMultiDict(request.headers),
                peer=tuple(peer[:2]),
            )
        )
        key = (request.method, request.path)
        queue = self._scripts.get(key)
        if queue:
            reply = queue.popleft()
        elif key in self._forever:
            reply = self._forever[key]
        else:
            return web.json_response({"unscripted": f"{request.method} {request.path}"}, status=418)
        if reply.action == "hang":
            self.arrived.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        if reply.action == "disconnect":
            assert request.transport is not None
            request.transport.close()
            raise asyncio.CancelledError  # nothing more to write; aiohttp drops the request quietly
        body = orjson.dumps(reply.json) if reply.json is not None else (reply.text or "").encode()
        content_type = "application/json" if reply.json is not None else "text/html"
        return web.Response(
            status=reply.status, reason=reply.reason, body=body, headers=reply.headers, content_type=content_type
        )


def refused_port() -> int:
    """A 127.0.0.1 port with nothing listening: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeTime:
    """A monotonic clock that the injected sleep advances instead of waiting; records every wait."""

    def __init__(self) -> None:
        import time

        self._monotonic = time.monotonic
        self.offset = 0.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self._monotonic() + self.offset

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.offset += seconds


# -- fixtures (imported by the test modules) --------------------------------------------------------

import pytest_asyncio  # noqa: E402

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "tok-SUPERSECRET-0123456789"
WORKSPACE = "WS" + "1" * 32
WORKERS = f"/v1/Workspaces/{WORKSPACE}/Workers"


@pytest_asyncio.fixture
async def upstream():
    server = ScriptedUpstream()
    await server.start()
    try:
        yield server
    finally:
        await server.close()


@pytest_asyncio.fixture
async def fake_time() -> FakeTime:
    return FakeTime()
