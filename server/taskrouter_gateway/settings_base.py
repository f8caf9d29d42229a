"""What every component's settings share: the error that names a bad setting, the setting's environment name,
and the error for a start that failed for a reason the operator can fix. Imports nothing of the gateway, so any
component may use it without an import circle."""

from __future__ import annotations

# Twilio's usual variable names, so existing deployments need no new secrets wiring.
ENV_ACCOUNT_SID = "TWILIO_ACCOUNT_SID"
ENV_AUTH_TOKEN = "TWILIO_AUTH_TOKEN"
ENV_API_KEY = "TWILIO_API_KEY"
ENV_API_SECRET = "TWILIO_API_SECRET"

ENV_PREFIX = "TASKROUTER_GATEWAY_"

_TWILIO_ENV = {
    "account_sid": ENV_ACCOUNT_SID,
    "auth_token": ENV_AUTH_TOKEN,
    "api_key": ENV_API_KEY,
    "api_secret": ENV_API_SECRET,
}


class ConfigError(ValueError):
    """A setting is missing, malformed or inconsistent; the message names it."""


class StartupError(Exception):
    """The gateway cannot start for a reason the operator can fix (a port in use, a log opened elsewhere);
    the message says which, in one line."""


def env_name(setting: str) -> str:
    return _TWILIO_ENV.get(setting) or ENV_PREFIX + setting.upper()


def check_port(name: str, port: int | None) -> None:
    if port is not None and not 0 <= port <= 65535:
        raise ConfigError(f"{name} must be 0..65535, got {port}")


def check_at_least_one(name: str, value: float) -> None:
    if value < 1:
        raise ConfigError(f"{name} must be >= 1")
