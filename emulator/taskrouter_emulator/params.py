"""Parsing Twilio's form and query values. Every helper returns None for an absent (or empty) value and
raises a 400 TwilioApiError naming the parameter for a bad one, so handlers stay a list of one-liners."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from urllib.parse import urlsplit

import orjson

from . import defaults
from .errors import bad_parameter
from .sids import is_sid

_TRUE_WORDS = frozenset({"true", "1", "yes"})
_STRICT_BOOLS = {"true": True, "false": False}


def text(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    return value if value else None


def flag(value: str | None) -> bool:
    """Twilio's loose boolean (Available): true, 1 or yes in any case is true, anything else false."""
    return value is not None and value.strip().lower() in _TRUE_WORDS


def strict_bool(params: Mapping[str, str], name: str) -> bool | None:
    """A boolean body parameter (MultiTaskEnabled, RejectPendingReservations): true or false, any case."""
    value = text(params, name)
    if value is None:
        return None
    parsed = _STRICT_BOOLS.get(value.strip().lower())
    if parsed is None:
        raise bad_parameter(f"{name} must be true or false, got {value!r}")
    return parsed


def sid(params: Mapping[str, str], name: str, prefix: str) -> str | None:
    value = text(params, name)
    if value is not None and not is_sid(value, prefix):
        raise bad_parameter(f"{name} must be a {prefix} SID ({prefix} followed by 32 hex digits), got {value!r}")
    return value


def friendly_name(params: Mapping[str, str], name: str = "FriendlyName", *, required: bool) -> str | None:
    value = params.get(name)
    if value is None or not value.strip():
        if required:
            raise bad_parameter(f"Missing required parameter {name} in the post body")
        if value is not None:
            raise bad_parameter(f"{name} must not be empty")
        return None
    if len(value) > defaults.MAX_FRIENDLY_NAME_LENGTH:
        raise bad_parameter(
            f"{name} must be at most {defaults.MAX_FRIENDLY_NAME_LENGTH} characters long, got {len(value)}"
        )
    return value


def json_object(params: Mapping[str, str], name: str) -> str | None:
    """A JSON object string (Attributes), returned exactly as sent so it round-trips byte for byte."""
    value = params.get(name)
    if value is None:
        return None
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise bad_parameter(f"{name} must be a valid JSON object: {exc}") from None
    if not isinstance(parsed, dict):
        raise bad_parameter(f"{name} must be a JSON object, got a JSON {type(parsed).__name__}")
    return value


def integer(params: Mapping[str, str], name: str, *, minimum: int, maximum: int | None = None) -> int | None:
    value = text(params, name)
    if value is None:
        return None
    try:
        number = int(value.strip())
    except ValueError:
        raise bad_parameter(f"{name} must be an integer, got {value!r}") from None
    if number < minimum or (maximum is not None and number > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise bad_parameter(f"{name} must be {bounds}, got {number}")
    return number


def date_time(params: Mapping[str, str], name: str) -> float | None:
    """An ISO 8601 date-time (a bare date means midnight; no zone means GMT) as epoch seconds."""
    value = text(params, name)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise bad_parameter(
            f"{name} must be an ISO 8601 date-time such as 2024-01-31T12:00:00Z, got {value!r}"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def url(params: Mapping[str, str], name: str) -> str | None:
    """An absolute http(s) URL; an empty value is returned as "" so callers can clear the setting."""
    value = params.get(name)
    if value is None or value == "":
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise bad_parameter(f"{name} must be an absolute http or https URL, got {value!r}")
    return value


def callback_url(params: Mapping[str, str], name: str, allowed: Callable[[str], bool]) -> str | None:
    """url(), whose host `allowed` (EmulatorConfig.callback_allowed) accepts."""
    value = url(params, name)
    if value and not allowed(value):
        raise bad_parameter(
            f"{name} must name a loopback host (localhost, 127.0.0.0/8 or [::1]): this emulator calls no other "
            "host unless started to allow remote callbacks (taskrouter-gateway --emulator-allow-remote-callbacks)"
        )
    return value


def choice(params: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str | None:
    value = text(params, name)
    if value is not None and value not in choices:
        raise bad_parameter(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value
