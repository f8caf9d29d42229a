"""Upstream failures as plain exceptions (no gRPC here). Messages never carry credentials."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any


class UpstreamFailure(Exception):
    """Base of everything the upstream client raises for a call that did not succeed."""

    def __init__(self, message: str, *, method: str, path: str, attempts: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.path = path
        self.attempts = attempts


class UpstreamError(UpstreamFailure):
    """Twilio answered with a non-2xx status; fields come from its JSON error body when there is one."""

    def __init__(
        self,
        status: int,
        code: int | None,
        message: str,
        more_info: str | None,
        retry_after: float | None,
        method: str,
        path: str,
        attempts: int = 1,
    ) -> None:
        super().__init__(message, method=method, path=path, attempts=attempts)
        self.status = status
        self.code = code
        self.more_info = more_info
        self.retry_after = retry_after

    def __str__(self) -> str:
        code = f" (Twilio error {self.code})" if self.code is not None else ""
        return f"{self.method} {self.path} -> HTTP {self.status}{code}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"UpstreamError(status={self.status}, code={self.code}, message={self.message!r}, "
            f"method={self.method!r}, path={self.path!r})"
        )

    @classmethod
    def from_body(
        cls,
        status: int,
        body: Any,
        *,
        method: str,
        path: str,
        retry_after: float | None = None,
        attempts: int = 1,
        reason: str | None = None,
    ) -> "UpstreamError":
        """Build from Twilio's {code, message, more_info, status}; anything else falls back to the reason phrase."""
        code: int | None = None
        message: str | None = None
        more_info: str | None = None
        if isinstance(body, Mapping):
            raw_code = body.get("code")
            if isinstance(raw_code, int) and not isinstance(raw_code, bool):
                code = raw_code
            elif isinstance(raw_code, str) and raw_code.isdigit():
                code = int(raw_code)
            if isinstance(body.get("message"), str) and body["message"]:
                message = body["message"]
            if isinstance(body.get("more_info"), str) and body["more_info"]:
                more_info = body["more_info"]
        if message is None:
            message = reason or reason_phrase(status)
        return cls(status, code, message, more_info, retry_after, method, path, attempts)


class UpstreamConnectionError(UpstreamFailure):
    """No usable HTTP reply: refused, reset, disconnected mid-reply, DNS or TLS failure."""


class UpstreamTimeout(UpstreamFailure):
    """The caller's deadline passed (or left no time to start) before a reply came back."""


class UpstreamBadResponse(UpstreamFailure):
    """A 2xx reply whose body is not the JSON Twilio promises."""

    def __init__(self, message: str, *, status: int, method: str, path: str, attempts: int = 1) -> None:
        super().__init__(message, method=method, path=path, attempts=attempts)
        self.status = status


class UnsafePath(ValueError):
    """A request path that could leave the intended resource (.., //, odd characters, a host)."""


def reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"
