"""One frozen settings object, read once from flags and environment at start-up.

Its fields are the public surface (one flag and one environment variable each). Each component takes its own
settings type, built here from those fields and validated by itself; this module is the only one that knows
them all, and no component imports it."""

from __future__ import annotations

import os
from urllib.parse import urlsplit
from dataclasses import dataclass, field, fields
from typing import Mapping, Protocol

from .admin import AdminSettings
from .connect.settings import HttpSettings, cors_origins
from .embedded import EmbeddedSettings
from .eventlog.settings import EventLogSettings, NatsSettings
from .grpc_server import GrpcSettings
from .ingest.webhook_server import WebhookSettings
from .logs import LogSettings
from .reads.reads import ReadSettings
from .settings_base import (
    ENV_ACCOUNT_SID,
    ENV_API_KEY,
    ENV_API_SECRET,
    ENV_AUTH_TOKEN,
    ENV_PREFIX,
    ConfigError,
    check_at_least_one,
    env_name,
)
from .tls import TlsSettings
from .upstream.settings import UpstreamSettings


class _Section(Protocol):
    def validate(self) -> None: ...

# The names a setting goes by outside: re-exported, as callers import them from here.
__all__ = ["ENV_ACCOUNT_SID", "ENV_API_KEY", "ENV_API_SECRET", "ENV_AUTH_TOKEN", "ENV_PREFIX", "ConfigError",
           "Settings", "env_name", "load"]


@dataclass(frozen=True)
class Settings:
    # Defaults come from each component's settings type, which documents them.
    grpc_host: str = GrpcSettings.host
    grpc_port: int = GrpcSettings.port
    webhook_host: str = WebhookSettings.host
    webhook_port: int = WebhookSettings.port
    webhook_path: str = WebhookSettings.path
    webhook_public_url: str | None = None
    webhook_max_body: int = WebhookSettings.max_body
    # One directory for what the gateway keeps between runs: the event log and, in embedded mode, the
    # emulator's state. Kept together so a restart continues one emulator lifetime in one log; delete the
    # directory to start afresh with both.
    data_dir: str = ".data"
    event_log_path: str = ""  # "": <data_dir>/events.sqlite3
    event_log_sync: str = EventLogSettings.sync
    event_retention_days: int = EventLogSettings.retention_days
    event_log_max_mb: int = EventLogSettings.max_mb
    subscriber_buffer: int = 1024
    event_backend: str = EventLogSettings.backend
    nats_url: str = NatsSettings.url
    nats_credentials: str | None = None
    nats_user: str | None = None
    nats_password: str | None = field(default=None, repr=False)
    nats_token: str | None = field(default=None, repr=False)
    nats_tls_ca: str | None = None
    nats_tls_cert: str | None = None
    nats_tls_key: str | None = None
    nats_stream: str = NatsSettings.stream
    nats_subject_prefix: str = NatsSettings.subject_prefix
    nats_replicas: int = NatsSettings.replicas
    # Comma-separated workspace SIDs to backfill at start-up; empty: every workspace of the account.
    workspaces: str = ""
    backfill_on_start: bool = True
    account_sid: str | None = None
    auth_token: str | None = field(default=None, repr=False)
    api_key: str | None = None
    api_secret: str | None = field(default=None, repr=False)
    taskrouter_base_url: str = UpstreamSettings.taskrouter_base_url
    api_base_url: str = UpstreamSettings.api_base_url
    emulator_port: int = EmbeddedSettings.port
    emulator_state_file: str | None = None  # None: <data_dir>/emulator.sqlite3; "": in memory
    emulator_allow_remote_callbacks: bool = False
    log_format: str = LogSettings.format
    log_level: str = LogSettings.level
    redact_pii: bool = LogSettings.redact_pii
    shutdown_grace_seconds: float = 10.0
    upstream_max_attempts: int = UpstreamSettings.max_attempts
    upstream_connections: int = UpstreamSettings.connections
    # Security and observability (docs/security-and-observability.md).
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    # TOML file of identities (hashed tokens, certificate names), scopes and workspaces; unset: no auth.
    auth_file: str | None = None
    # /metrics, /healthz and /readyz; unset port: no admin server.
    admin_host: str = AdminSettings.host
    admin_port: int | None = None
    # The Connect port (connect/): every RPC over HTTP/1.1 as JSON or binary, and /console; unset: off.
    http_host: str = HttpSettings.host
    http_port: int | None = None
    http_cors_origin: str = ""  # comma-separated browser origins allowed to call the Connect port
    # Reads (reads/): identical concurrent reads share one request; answers are cached within each caller's
    # ReadOptions.max_staleness and dropped by events.
    coalesce_reads: bool = ReadSettings.coalesce
    realtime_statistics_staleness: float = ReadSettings.realtime_statistics_staleness_s
    read_cache_entries: int = ReadSettings.cache_entries
    read_cache_mb: int = ReadSettings.cache_bytes >> 20

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

    # -- each component's own settings ---------------------------------------------------------------

    @property
    def upstream(self) -> UpstreamSettings:
        return UpstreamSettings(
            account_sid=self.account_sid, auth_token=self.auth_token, api_key=self.api_key,
            api_secret=self.api_secret, taskrouter_base_url=self.taskrouter_base_url,
            api_base_url=self.api_base_url, max_attempts=self.upstream_max_attempts,
            connections=self.upstream_connections,
        )

    @property
    def event_log(self) -> EventLogSettings:
        return EventLogSettings(
            backend=self.event_backend, file=self.event_log_file, sync=self.event_log_sync,
            retention_days=self.event_retention_days, max_mb=self.event_log_max_mb,
            nats=NatsSettings(
                url=self.nats_url, credentials=self.nats_credentials, user=self.nats_user,
                password=self.nats_password, token=self.nats_token, tls_ca=self.nats_tls_ca,
                tls_cert=self.nats_tls_cert, tls_key=self.nats_tls_key, stream=self.nats_stream,
                subject_prefix=self.nats_subject_prefix, replicas=self.nats_replicas,
            ),
        )

    @property
    def webhook(self) -> WebhookSettings:
        return WebhookSettings(host=self.webhook_host, port=self.webhook_port, path=self.webhook_path,
                               public_url=self.webhook_public_url, max_body=self.webhook_max_body)

    @property
    def grpc(self) -> GrpcSettings:
        return GrpcSettings(host=self.grpc_host, port=self.grpc_port)

    @property
    def tls(self) -> TlsSettings:
        return TlsSettings(cert=self.tls_cert, key=self.tls_key, client_ca=self.tls_client_ca)

    @property
    def admin(self) -> AdminSettings:
        return AdminSettings(host=self.admin_host, port=self.admin_port)

    @property
    def http(self) -> HttpSettings:
        return HttpSettings(host=self.http_host, port=self.http_port, cors_origins=cors_origins(self.http_cors_origin))

    @property
    def emulator(self) -> EmbeddedSettings:
        # The gateway's own webhook hosts (its listen host, the host of --webhook-public-url): the embedded
        # emulator may call these even when it calls no other host besides loopback.
        hosts = {self.webhook_host}
        if self.webhook_public_url:
            hosts.add(urlsplit(self.webhook_public_url).hostname or "")
        return EmbeddedSettings(
            port=self.emulator_port, state_file=self.emulator_state,
            callback_hosts=frozenset(host.lower() for host in hosts if host),
            allow_remote_callbacks=self.emulator_allow_remote_callbacks,
        )

    @property
    def reads(self) -> ReadSettings:
        return ReadSettings(coalesce=self.coalesce_reads,
                            realtime_statistics_staleness_s=self.realtime_statistics_staleness,
                            cache_entries=self.read_cache_entries, cache_bytes=self.read_cache_mb << 20)

    @property
    def logging(self) -> LogSettings:
        return LogSettings(format=self.log_format, level=self.log_level, redact_pii=self.redact_pii)

    def validate(self) -> "Settings":
        sections: tuple[_Section, ...] = (
            self.upstream, self.tls, self.grpc, self.webhook, self.emulator, self.admin, self.http, self.logging,
            self.reads,
        )
        for section in sections:
            section.validate()
        if not self.data_dir:
            raise ConfigError("data_dir must not be empty")
        self.event_log.validate()
        check_at_least_one("subscriber_buffer", self.subscriber_buffer)
        for sid in self.workspace_sids:
            if not (sid.startswith("WS") and len(sid) == 34):
                raise ConfigError(f"{ENV_PREFIX}WORKSPACES: {sid!r} is not a WS SID")
        if self.shutdown_grace_seconds < 0:
            raise ConfigError("shutdown_grace_seconds must be >= 0")
        return self


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
