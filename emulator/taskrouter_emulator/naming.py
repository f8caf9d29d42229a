"""Name conversion the emulator shares: Twilio's CamelCase parameter names as the snake_case it presents."""

from __future__ import annotations

import re

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def snake_case(name: str) -> str:
    """CallSid -> call_sid, SipAuthUsername -> sip_auth_username."""
    return _CAMEL_BOUNDARY.sub("_", name).lower()
