"""One frozen settings object, read once from flags and environment at start-up."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Mapping

# Twilio's usual variable names, so existing deployments need no new secrets wiring.
ENV_ACCOUNT_SID = "TWILIO_ACCOUNT_SID"
ENV_AUTH_TOKEN = "TWILIO_AUTH_TOKEN"
ENV_API_KEY = "TWILIO_API_KEY"
ENV_API_SECRET = "TWILIO_API_SECRET"

ENV_PREFIX = "TASKROUTER_GATEWAY_"


class ConfigError(ValueError):
    """A setting is missing, malformed or inconsistent; the message names it."""


@dataclass(frozen=True)
class Settings:
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50051
    webhook_host: str = "127.0.0.1"
    webhook_port: int = 8080
    webhook_path: str = "/twilio/taskrouter/events"
    # The URL Twilio calls and signs, when the gateway sits behind a proxy or load balancer.
    webhook_public_url: str | None = None
    webhook_max_body: int = 64 * 1024
    # One directory for what the gateway keeps between runs: the event log and, in embedded mode, the
    # emulator's state. Kept together so a restart continues one emulator lifetime in one log; delete the
    # directory to start afresh with both.
    data_dir: str = ".data"
    event_log_path: str = ""  # "": <data_dir>/events.sqlite3
    # FULL fsyncs every group commit: a 204 means the event is on disk. NORMAL risks the last commits on power loss.
    event_log_sync: str = "FULL"
    event_retention_days: int = 30
    event_log_max_mb: int = 0  # 0: no size limit; otherwise the oldest events go first
    subscriber_buffer: int = 1024
    # sqlite: one process, one file. nats: a JetStream stream shared by several replicas (see deploy/README.md).
    event_backend: str = "sqlite"
    nats_url: str = "nats://127.0.0.1:4222"  # comma-separated URLs of one NATS cluster
    nats_credentials: str | None = None  # a .creds file (JWT + nkey seed)
    nats_user: str | None = None
    nats_password: str | None = field(default=None, repr=False)
    nats_token: str | None = field(default=None, repr=False)
    nats_tls_ca: str | None = None
    nats_tls_cert: str | None = None
    nats_tls_key: str | None = None
    nats_stream: str = "TASKROUTER_EVENTS"
    nats_subject_prefix: str = "taskrouter.events"
    nats_replicas: int = 1
    # Comma-separated workspace SIDs to backfill at start-up; empty: every workspace of the account.
    workspaces: str = ""
    backfill_on_start: bool = True
    account_sid: str | None = None
    auth_token: str | None = field(default=None, repr=False)
    api_key: str | None = None
    api_secret: str | None = field(default=None, repr=False)
    taskrouter_base_url: str = "https://taskrouter.twilio.com"
    api_base_url: str = "https://api.twilio.com"
    emulator_port: int = 0
    emulator_state_file: str | None = None  # None: <data_dir>/emulator.sqlite3; "": in memory
    # The embedded emulator POSTs only to loopback callback URLs unless this is set: with auth off, any caller
    # could otherwise make the gateway's host send requests anywhere.
    emulator_allow_remote_callbacks: bool = False
    log_format: str = "auto"  # auto | json | console
    log_level: str = "info"
    redact_pii: bool = True
    shutdown_grace_seconds: float = 10.0
    upstream_max_attempts: int = 4
    upstream_connections: int = 100
    # Security and observability (docs/security-and-observability.md). TLS on the gRPC port when both are set;
    # a client CA makes it mutual TLS.
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    # TOML file of identities (hashed tokens, certificate names), scopes and workspaces; unset: no auth.
    auth_file: str | None = None
    # /metrics, /healthz and /readyz; unset port: no admin server.
    admin_host: str = "127.0.0.1"
    admin_port: int | None = None

    @property
    def embedded(self) -> bool:
        """No Twilio credentials: run against the embedded emulator."""
        return not self.account_sid

    @property
    def workspace_sids(self) -> tuple[str, ...]:
        return tuple(s.strip() for s in self.workspaces.split(",") if s.strip())

    @property
    def event_log_file(self) -> str:
        return self.event_log_path or os.path.join(self.data_dir, "events.sqlite3")

    @property
    def emulator_state(self) -> str | None:
        """The embedded emulator's state file, or None to keep its state in memory."""
        if self.emulator_state_file == "":
            return None
        return self.emulator_state_file or os.path.join(self.data_dir, "emulator.sqlite3")

    @property
    def uses_data_dir(self) -> bool:
        return not self.event_log_path or (self.embedded and self.emulator_state_file is None)

    @property
    def grpc_address(self) -> str:
        return f"{self.grpc_host}:{self.grpc_port}"

    def validate(self) -> "Settings":
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
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("set both tls_cert and tls_key (TLS), or neither")
        if self.tls_client_ca and not self.tls_cert:
            raise ConfigError("tls_client_ca (mutual TLS) needs tls_cert and tls_key too")
        for port_name in ("grpc_port", "webhook_port", "emulator_port", "admin_port"):
            port = getattr(self, port_name)
            if port is not None and not 0 <= port <= 65535:
                raise ConfigError(f"{port_name} must be 0..65535, got {port}")
        if self.log_format not in ("auto", "json", "console"):
            raise ConfigError("log_format must be auto, json or console")
        if not self.webhook_path.startswith("/"):
            raise ConfigError("webhook_path must start with /")
        if self.webhook_public_url and not self.webhook_public_url.startswith(("http://", "https://")):
            raise ConfigError("webhook_public_url must be an absolute http(s) URL")
        if not self.data_dir:
            raise ConfigError("data_dir must not be empty")
        if self.event_log_sync not in ("FULL", "NORMAL"):
            raise ConfigError("event_log_sync must be FULL or NORMAL")
        if self.event_backend not in ("sqlite", "nats"):
            raise ConfigError(f"event_backend must be sqlite or nats, got {self.event_backend!r}")
        if self.nats_replicas not in (1, 3):
            raise ConfigError(f"nats_replicas must be 1 or 3, got {self.nats_replicas}")
        if self.event_backend == "nats":
            from .eventlog.backends import check_nats_settings

            check_nats_settings(self)
        if self.event_log_max_mb < 0:
            raise ConfigError("event_log_max_mb must be >= 0")
        for name in ("webhook_max_body", "subscriber_buffer", "event_retention_days"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1")
        for sid in self.workspace_sids:
            if not (sid.startswith("WS") and len(sid) == 34):
                raise ConfigError(f"{ENV_PREFIX}WORKSPACES: {sid!r} is not a WS SID")
        if self.shutdown_grace_seconds < 0:
            raise ConfigError("shutdown_grace_seconds must be >= 0")
        return self


_TWILIO_ENV = {
    "account_sid": ENV_ACCOUNT_SID,
    "auth_token": ENV_AUTH_TOKEN,
    "api_key": ENV_API_KEY,
    "api_secret": ENV_API_SECRET,
}


def env_name(setting: str) -> str:
    return _TWILIO_ENV.get(setting) or ENV_PREFIX + setting.upper()


def _coerce(name: str, raw: str, kind: type) -> object:
    if kind is bool:
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{env_name(name)} must be a boolean, got {raw!r}")
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{env_name(name)} must be {kind.__name__}, got {raw!r}") from None


_KINDS = {"int": int, "float": float, "bool": bool}


def load(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Environment first, then explicit overrides (command-line flags that were given)."""
    environ = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for f in fields(Settings):
        raw = environ.get(env_name(f.name))
        if raw is not None and raw != "":
            kind = _KINDS.get(str(f.type).split(" ")[0], str)
            values[f.name] = _coerce(f.name, raw, kind)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values).validate()  # type: ignore[arg-type]  # each value was coerced to its field's type
