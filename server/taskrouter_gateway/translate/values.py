"""Conversions shared by every resource: Twilio dates, JSON attributes, optional fields."""

from __future__ import annotations

from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import orjson
from google.protobuf import struct_pb2, timestamp_pb2


def set_timestamp(target: timestamp_pb2.Timestamp, value: str | None) -> None:
    """Twilio sends ISO 8601 ('2017-05-30T23:19:38Z') in v1 and RFC 2822 in the 2010 API."""
    if not value:
        return
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = parsedate_to_datetime(value)
    target.FromDatetime(moment)


def set_struct_from_json(target: struct_pb2.Struct, raw: str | None) -> None:
    """A convenience view; the raw JSON string stays authoritative (Struct turns ints into doubles)."""
    if not raw:
        return
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return
    if isinstance(parsed, dict):
        target.update(parsed)


def attributes_text(value: Any) -> str:
    """Twilio returns attributes as a JSON string; tolerate an object too (as the seed examples show)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def set_params(message: Any, fields: tuple[tuple[str, str], ...]) -> dict[str, object]:
    """Twilio parameters from the request fields that are set (non-empty), named as the pairs say."""
    params: dict[str, object] = {}
    for field, param in fields:
        value = getattr(message, field)
        if value:
            params[param] = value
    return params
