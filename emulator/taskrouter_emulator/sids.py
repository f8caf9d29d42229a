"""Twilio SIDs: two upper-case letters followed by 32 hex digits."""

from __future__ import annotations

import re
import secrets

_SID = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def is_sid(value: str | None, prefix: str) -> bool:
    return value is not None and value.startswith(prefix) and _SID.match(value) is not None
