"""Helpers for tests that talk to a running emulator (used by tests/conftest.py and the test suites).

Kept in the package so any test directory can import them, like aiohttp.test_utils.
"""

from __future__ import annotations

import base64
from typing import Any

import aiohttp

from .config import EmulatorConfig
from .errors import MORE_INFO


def basic_auth_header(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def account_auth_header(config: EmulatorConfig) -> dict[str, str]:
    """The Authorization header for the config's account SID and auth token."""
    return basic_auth_header(config.account_sid, config.auth_token)


async def expect_twilio_error(response: aiohttp.ClientResponse, status: int, code: int) -> dict[str, Any]:
    """Assert `response` is Twilio's JSON error body with this status and code; returns the body."""
    body = await response.json()
    assert response.status == status, f"expected HTTP {status}, got {response.status}: {body}"
    assert response.content_type == "application/json"
    assert body == {
        "code": code,
        "message": body.get("message"),
        "more_info": MORE_INFO.format(code=code),
        "status": status,
    }, body
    assert isinstance(body["message"], str) and body["message"], body
    return body


class ManualClock:
    """A clock tests move by hand (install with `store.clock = ManualClock(...)`): no sleeping for time."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
