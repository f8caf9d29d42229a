"""Which EventLog the settings ask for: the one place that knows both backends' constructors."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .log import DAY_MS, EventLog, Retention

if TYPE_CHECKING:
    from ..config import Settings


def nats_servers(settings: Settings) -> tuple[str, ...]:
    return tuple(url.strip() for url in settings.nats_url.split(",") if url.strip())


def check_nats_settings(settings: Settings) -> None:
    """Raises ConfigError naming the NATS setting that cannot work, before anything connects."""
    from ..config import ConfigError, env_name
    from .jetstream.log import StreamOptions

    servers = nats_servers(settings)
    if not servers:
        raise ConfigError("nats_url must name at least one server (nats://host:port, comma-separated)")
    for url in servers:
        if not url.startswith(("nats://", "tls://", "ws://", "wss://")):
            raise ConfigError(f"nats_url: {url!r} must start with nats:// or tls://")
    if bool(settings.nats_tls_cert) != bool(settings.nats_tls_key):
        raise ConfigError("set both nats_tls_cert and nats_tls_key, or neither")
    for name in ("nats_credentials", "nats_tls_ca", "nats_tls_cert", "nats_tls_key"):
        path = getattr(settings, name)
        if path and not os.path.isfile(path):
            raise ConfigError(f"{env_name(name)}: no such file {path!r}")
    if settings.nats_password and not settings.nats_user:
        raise ConfigError("nats_password is set without nats_user")
    try:
        StreamOptions(name=settings.nats_stream, prefix=settings.nats_subject_prefix, replicas=settings.nats_replicas)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def build_event_log(settings: Settings) -> EventLog:
    """An unopened log for the chosen backend."""
    max_bytes = settings.event_log_max_mb * 1024 * 1024 or None
    if settings.event_backend == "nats":
        from .jetstream.log import JetStreamEventLog, NatsOptions, StreamOptions

        return JetStreamEventLog(
            NatsOptions(
                servers=nats_servers(settings),
                credentials_file=settings.nats_credentials,
                user=settings.nats_user,
                password=settings.nats_password,
                token=settings.nats_token,
                tls_ca=settings.nats_tls_ca,
                tls_cert=settings.nats_tls_cert,
                tls_key=settings.nats_tls_key,
            ),
            StreamOptions(
                name=settings.nats_stream,
                prefix=settings.nats_subject_prefix,
                replicas=settings.nats_replicas,
                max_age_ms=settings.event_retention_days * DAY_MS,
                max_bytes=max_bytes,
            ),
        )
    from .sqlite.log import SqliteEventLog

    return SqliteEventLog(
        settings.event_log_file,
        synchronous=settings.event_log_sync,  # type: ignore[arg-type]
        retention=Retention(max_age_ms=settings.event_retention_days * DAY_MS, max_bytes=max_bytes),
    )
