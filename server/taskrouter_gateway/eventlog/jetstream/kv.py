"""Opening a JetStream key-value bucket that any replica may be the first to need."""

from __future__ import annotations

from typing import Any

import nats.js.errors
from nats.js import api


async def open_bucket(js: Any, bucket: str, *, replicas: int, ttl_s: float | None = None) -> Any:
    """The bucket, created if absent (history 1, file storage); another replica creating it at the same moment
    ("stream name already in use") is not an error: its bucket is used."""
    try:
        return await js.key_value(bucket)
    except nats.js.errors.BucketNotFoundError:
        pass
    config = api.KeyValueConfig(bucket=bucket, history=1, replicas=replicas, storage=api.StorageType.FILE)
    if ttl_s is not None:
        config.ttl = ttl_s
    try:
        return await js.create_key_value(config)
    except nats.js.errors.BadRequestError:
        return await js.key_value(bucket)
