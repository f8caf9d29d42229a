"""The upstream client's settings: whose credentials, which base URLs, how many attempts and connections."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..settings_base import ENV_ACCOUNT_SID, ENV_API_KEY, ENV_API_SECRET, ENV_AUTH_TOKEN, ConfigError
from .client import UpstreamClient
from .credentials import Credentials
from .retry import RetryPolicy


@dataclass(frozen=True)
class UpstreamSettings:
    account_sid: str | None = None
    auth_token: str | None = field(default=None, repr=False)
    api_key: str | None = None
    api_secret: str | None = field(default=None, repr=False)
    taskrouter_base_url: str = "https://taskrouter.twilio.com"
    api_base_url: str = "https://api.twilio.com"
    max_attempts: int = 4
    connections: int = 100

    def validate(self) -> None:
        if self.account_sid:
            if not (self.account_sid.startswith("AC") and len(self.account_sid) == 34):
                raise ConfigError(f"{ENV_ACCOUNT_SID} must be an AC… SID of 34 characters")
            has_token = bool(self.auth_token)
            has_key = bool(self.api_key) and bool(self.api_secret)
            if not (has_token or has_key):
                raise ConfigError(
                    f"{ENV_ACCOUNT_SID} is set: also set {ENV_AUTH_TOKEN}, or {ENV_API_KEY} and {ENV_API_SECRET}"
                )
            if bool(self.api_key) != bool(self.api_secret):
                raise ConfigError(f"set both {ENV_API_KEY} and {ENV_API_SECRET}, or neither")
        elif self.auth_token or self.api_key or self.api_secret:
            raise ConfigError(f"credentials given without {ENV_ACCOUNT_SID}")

    def credentials(self) -> Credentials:
        if not self.account_sid:
            raise ConfigError(f"{ENV_ACCOUNT_SID} is not set")
        if self.api_key and self.api_secret:
            return Credentials.from_api_key(self.account_sid, self.api_key, self.api_secret)
        if not self.auth_token:
            raise ConfigError(f"{ENV_AUTH_TOKEN} is not set")
        return Credentials.from_auth_token(self.account_sid, self.auth_token)

    def client(self, **options: Any) -> UpstreamClient:
        """An unstarted client (an async context manager); `options` go to UpstreamClient as they are."""
        return UpstreamClient(
            self.credentials(),
            taskrouter_base_url=self.taskrouter_base_url,
            api_base_url=self.api_base_url,
            retry_policy=RetryPolicy(max_attempts=self.max_attempts),
            connection_limit=self.connections,
            **options,
        )
