"""Which EventLog the settings ask for: the one place that knows both backends' constructors."""

from __future__ import annotations

from .log import DAY_MS, EventLog, Retention
from .settings import EventLogSettings


def build_event_log(settings: EventLogSettings) -> EventLog:
    """An unopened log for the chosen backend (an async context manager)."""
    max_bytes = settings.max_mb * 1024 * 1024 or None
    if settings.backend == "nats":
        from .jetstream.log import JetStreamEventLog, NatsOptions, StreamOptions

        nats = settings.nats
        return JetStreamEventLog(
            NatsOptions(
                servers=nats.servers,
                credentials_file=nats.credentials,
                user=nats.user,
                password=nats.password,
                token=nats.token,
                tls_ca=nats.tls_ca,
                tls_cert=nats.tls_cert,
                tls_key=nats.tls_key,
            ),
            StreamOptions(
                name=nats.stream,
                prefix=nats.subject_prefix,
                replicas=nats.replicas,
                max_age_ms=settings.retention_days * DAY_MS,
                max_bytes=max_bytes,
            ),
        )
    from .sqlite.log import SqliteEventLog

    return SqliteEventLog(
        settings.file,
        synchronous=settings.sync,  # type: ignore[arg-type]
        retention=Retention(max_age_ms=settings.retention_days * DAY_MS, max_bytes=max_bytes),
    )
