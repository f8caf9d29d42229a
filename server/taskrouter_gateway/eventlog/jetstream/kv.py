"""Opening a JetStream key-value bucket that any replica may be the first to need."""

from __future__ import annotations

from typing import Any

import nats.js.errors
from nats.js import api

from .settle import cluster_forming, once_formed

# A replica starting beside its brokers, or beside another replica creating the same bucket, waits this long.
BUCKET_WAIT_S = 30.0
STREAM_NAME_IN_USE = 10058  # created meanwhile by another replica (with its own TTL or replicas)


def _settling(exc: BaseException) -> bool:
    # Not found right after another replica's create: its bucket is not yet visible from this server.
    return cluster_forming(exc) or isinstance(exc, nats.js.errors.BucketNotFoundError)


async def open_bucket(js: Any, bucket: str, *, replicas: int, ttl_s: float | None = None,
                      within_s: float = BUCKET_WAIT_S, pause_s: float = 0.25) -> Any:
    """The bucket, created if absent (history 1, file storage). Another replica creating it at the same moment
    ("stream name already in use") is not an error: its bucket is used, once this server shows it. A cluster
    still forming is waited out too, up to `within_s`."""
    config = api.KeyValueConfig(bucket=bucket, history=1, replicas=replicas, storage=api.StorageType.FILE)
    if ttl_s is not None:
        config.ttl = ttl_s

    async def attempt() -> Any:
        try:
            return await js.key_value(bucket)
        except nats.js.errors.BucketNotFoundError:
            pass
        try:
            return await js.create_key_value(config)
        except nats.js.errors.BadRequestError as exc:
            if exc.err_code != STREAM_NAME_IN_USE:
                raise
            return await js.key_value(bucket)

    return await once_formed(attempt, within_s=within_s, pause_s=pause_s, settling=_settling)
