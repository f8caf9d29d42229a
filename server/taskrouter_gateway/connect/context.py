"""What the pipeline and the servicers ask of a call's context, answered for a Connect request.

They were written against grpc.aio.ServicerContext and use a small part of it (metadata in, trailing metadata
out, the deadline, abort with a status, the code it ended with). Answering that part here keeps one pipeline
and one implementation of each RPC for both transports."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import grpc
from connectrpc.request import RequestContext

from .peer import peer_certificates

# Request headers that are transport, not metadata: grpc would not show them as invocation metadata either.
_NOT_METADATA = frozenset({
    "content-type", "content-length", "content-encoding", "accept-encoding", "connect-protocol-version",
    "connect-timeout-ms", "connect-content-encoding", "connect-accept-encoding", "host", "connection",
    "user-agent", "te", "accept", "origin", "referer",
})


class ConnectCallContext:
    """The grpc.aio.ServicerContext subset the gateway uses, over connectrpc's RequestContext."""

    __slots__ = ("_ctx", "_metadata", "_code", "_details", "_trailers", "opened")

    def __init__(self, ctx: RequestContext) -> None:
        self._ctx = ctx
        self._metadata: tuple[tuple[str, Any], ...] | None = None
        self._code: grpc.StatusCode | None = None
        self._details = ""
        self._trailers: tuple[tuple[str, Any], ...] = ()
        # Set when a stream's handler says it is subscribed (send_initial_metadata, as on gRPC).
        self.opened: asyncio.Event | None = None

    def invocation_metadata(self) -> tuple[tuple[str, Any], ...]:
        metadata = self._metadata
        if metadata is None:
            items: list[tuple[str, Any]] = []
            for key, value in self._ctx.request_headers.allitems():
                if key in _NOT_METADATA:
                    continue
                if key.endswith("-bin"):
                    try:
                        items.append((key, base64.b64decode(value + "==")))
                    except ValueError:
                        continue  # as grpc does with undecodable binary metadata: dropped
                else:
                    items.append((key, value))
            metadata = self._metadata = tuple(items)
        return metadata

    def auth_context(self) -> Mapping[str, Sequence[bytes]]:
        # auth.py reads the verified client certificate under the key grpc uses (peer.py puts it there).
        chain = peer_certificates.get()
        return {"x509_pem_cert": chain} if chain else {}

    def time_remaining(self) -> float | None:
        remaining_ms = self._ctx.timeout_ms
        return None if remaining_ms is None else max(remaining_ms / 1000.0, 0.0)

    def set_trailing_metadata(self, metadata: Sequence[tuple[str, Any]]) -> None:
        # Connect unary responses carry trailers as headers prefixed "trailer-" (the runtime writes them).
        self._trailers = tuple(metadata)
        trailers = self._ctx.response_trailers
        for key, value in metadata:
            if not key.endswith("-bin"):
                trailers[key] = value

    async def send_initial_metadata(self, metadata: Sequence[tuple[str, Any]]) -> None:
        headers = self._ctx.response_headers
        for key, value in metadata:
            headers[key] = value
        if self.opened is not None:
            self.opened.set()

    async def abort_with_status(self, status: grpc.Status) -> NoReturn:
        self._code = status.code
        self._details = status.details
        self._trailers = tuple(status.trailing_metadata or ())
        raise grpc.aio.AbortError()

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[tuple[str, Any], ...]:
        return self._trailers
