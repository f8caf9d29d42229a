"""The event log's settings, for either backend, each checked before anything opens or connects."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..settings_base import ConfigError, check_at_least_one, env_name


@dataclass(frozen=True)
class NatsSettings:
    url: str = "nats://127.0.0.1:4222"  # comma-separated URLs of one NATS cluster
    credentials: str | None = None  # a .creds file (JWT + nkey seed)
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    stream: str = "TASKROUTER_EVENTS"
    subject_prefix: str = "taskrouter.events"
    replicas: int = 1

    @property
    def servers(self) -> tuple[str, ...]:
        return tuple(url.strip() for url in self.url.split(",") if url.strip())

    def validate(self) -> None:
        """Raises ConfigError naming the NATS setting that cannot work."""
        from .jetstream.options import StreamOptions  # nats-py is imported only when the nats backend is chosen

        if self.replicas not in (1, 3):
            raise ConfigError(f"nats_replicas must be 1 or 3, got {self.replicas}")
        if not self.servers:
            raise ConfigError("nats_url must name at least one server (nats://host:port, comma-separated)")
        for url in self.servers:
            if not url.startswith(("nats://", "tls://", "ws://", "wss://")):
                raise ConfigError(f"nats_url: {url!r} must start with nats:// or tls://")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("set both nats_tls_cert and nats_tls_key, or neither")
        for name in ("credentials", "tls_ca", "tls_cert", "tls_key"):
            path = getattr(self, name)
            if path and not os.path.isfile(path):
                raise ConfigError(f"{env_name('nats_' + name)}: no such file {path!r}")
        if self.password and not self.user:
            raise ConfigError("nats_password is set without nats_user")
        try:
            StreamOptions(name=self.stream, prefix=self.subject_prefix, replicas=self.replicas)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None


@dataclass(frozen=True)
class EventLogSettings:
    # sqlite: one process, one file. nats: a JetStream stream shared by several replicas (see deploy/README.md).
    backend: str = "sqlite"
    file: str = ".data/events.sqlite3"
    # FULL fsyncs every group commit: a 204 means the event is on disk. NORMAL risks the last commits on power loss.
    sync: str = "FULL"
    retention_days: int = 30
    max_mb: int = 0  # 0: no size limit; otherwise the oldest events go first
    nats: NatsSettings = NatsSettings()

    def validate(self) -> None:
        if self.sync not in ("FULL", "NORMAL"):
            raise ConfigError("event_log_sync must be FULL or NORMAL")
        if self.backend not in ("sqlite", "nats"):
            raise ConfigError(f"event_backend must be sqlite or nats, got {self.backend!r}")
        if self.nats.replicas not in (1, 3):
            raise ConfigError(f"nats_replicas must be 1 or 3, got {self.nats.replicas}")
        if self.backend == "nats":
            self.nats.validate()
        if self.max_mb < 0:
            raise ConfigError("event_log_max_mb must be >= 0")
        check_at_least_one("event_retention_days", self.retention_days)
