"""Twilio credentials and the one Basic auth header built from them."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Credentials:
    """Basic auth user/password: account SID + auth token, or API key SID + secret.

    `account_sid` is the account the requests act for (the 2010 API puts it in every path); with an API
    key it differs from the Basic auth user.
    """

    account_sid: str
    username: str
    password: str = field(repr=False)

    def __post_init__(self) -> None:
        for name in ("account_sid", "username", "password"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"credentials: {name} must be a non-empty string")
        if ":" in self.username:
            raise ValueError("credentials: the SID used as Basic auth user cannot contain ':'")

    @classmethod
    def from_auth_token(cls, account_sid: str, auth_token: str) -> "Credentials":
        return cls(account_sid=account_sid, username=account_sid, password=auth_token)

    @classmethod
    def from_api_key(cls, account_sid: str, api_key_sid: str, api_key_secret: str) -> "Credentials":
        return cls(account_sid=account_sid, username=api_key_sid, password=api_key_secret)

    def authorization_header(self) -> str:
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")
        return f"Basic {token}"
