"""structlog set-up: JSON in production, key=value in a terminal; secrets and PII never reach a sink."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any, MutableMapping
from dataclasses import dataclass

import structlog

from .settings_base import ConfigError

REDACTED = "[redacted]"

# Always removed, whatever the settings: credentials (SipAuthPassword: a conference instruction's SIP secret,
# in the casings a form, a proto field and a lower-cased key give it).
SECRET_KEYS = frozenset(
    {"auth_token", "api_secret", "authorization", "password", "secret", "token", "x-twilio-signature",
     "sip_auth_password", "SipAuthPassword", "sipauthpassword"}
)
# Flagged PII in the seeds: worker attributes, friendly names, event descriptions (both casings we log).
PII_KEYS = frozenset(
    {
        "attributes",
        "friendly_name",
        "description",
        "worker_name",
        "worker_attributes",
        "workspace_name",
        "task_attributes",
        "task_channel_name",
        "event_description",
        "WorkerName",
        "WorkerAttributes",
        "WorkspaceName",
        "EventDescription",
        "TaskAttributes",
        "TaskChannelName",
        "FriendlyName",
        "Attributes",
    }
)


# scheme://userinfo@ : greedy up to the last "@" before the host ends, so a password holding "@" goes too.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)[^\s/?#]*@")


def redact_url(text: str, mask: str = REDACTED) -> str:
    """`text` with the user:password@ of every URL in it replaced by `mask`, for logs and messages."""
    if "@" not in text or "://" not in text:  # the common case costs two scans
        return text
    return _URL_USERINFO.sub(lambda m: f"{m['scheme']}{mask}@", text)


def _scrub(value: Any, keys: frozenset[str]) -> Any:
    if isinstance(value, str):
        return redact_url(value)
    if isinstance(value, dict):
        return {k: (REDACTED if k in keys or k.lower() in keys else _scrub(v, keys)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_scrub(v, keys) for v in value)
    return value


def redactor(redact_pii: bool):
    keys = SECRET_KEYS | PII_KEYS if redact_pii else SECRET_KEYS

    def redact(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        return _scrub(event_dict, keys)

    return redact


class _CurrentStderr:
    """Resolves sys.stderr at write time, so redirection after configure() (tests, daemons) is honoured."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


@dataclass(frozen=True)
class LogSettings:
    format: str = "auto"  # auto | json | console
    level: str = "info"
    redact_pii: bool = True

    def validate(self) -> None:
        if self.format not in ("auto", "json", "console"):
            raise ConfigError("log_format must be auto, json or console")


def configure(log_format: str = "auto", level: str = "info", redact_pii: bool = True) -> None:
    """Idempotent; called once by the CLI (tests may call it again with other options)."""
    use_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    renderer = structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            # Tracebacks become text first, so the redactor sees them too (URLs with credentials in messages).
            structlog.processors.format_exc_info,
            redactor(redact_pii),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
