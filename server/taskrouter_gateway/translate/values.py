"""Conversions shared by every resource: Twilio dates, JSON attributes, optional fields."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import orjson
from google.protobuf import struct_pb2, timestamp_pb2


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def parse_date(value: object) -> datetime | None:
    """Twilio sends ISO 8601 ('2017-05-30T23:19:38Z') in v1 and RFC 2822 in the 2010 API; naive means UTC.
    None for anything else."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def set_timestamp(target: timestamp_pb2.Timestamp, value: str | None) -> None:
    if not value:
        return
    moment = parse_date(value)
    if moment is None:
        raise ValueError(f"not a date Twilio sends: {value!r}")
    # What FromDatetime computes, without its utctimetuple()/timegm() round trip (on every fetch: bench/).
    since = moment - _EPOCH
    target.seconds = since.days * 86_400 + since.seconds
    target.nanos = since.microseconds * 1000


def set_struct_from_json(target: struct_pb2.Struct, raw: str | None) -> None:
    """A convenience view; the raw JSON string stays authoritative (Struct turns ints into doubles)."""
    if not raw:
        return
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return
    if isinstance(parsed, dict):
        fill_struct(target, parsed)


def fill_struct(target: struct_pb2.Struct, data: dict[str, Any]) -> None:
    """Struct.update(data) for parsed JSON, about 40% cheaper (no Clear() of fresh values, no tuple or Struct
    cases): it runs for the attributes of every worker returned."""
    fields = target.fields
    for key, value in data.items():
        _fill_value(fields[key], value)


def _fill_value(target: struct_pb2.Value, value: Any) -> None:
    # bool before int/float: True is an int to isinstance.
    if isinstance(value, str):
        target.string_value = value
    elif isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, (int, float)):
        target.number_value = value
    elif value is None:
        target.null_value = struct_pb2.NULL_VALUE
    elif isinstance(value, dict):
        struct = target.struct_value
        if not value:
            struct.SetInParent()  # {} is a value too: the oneof must say struct_value
        fill_struct(struct, value)
    elif isinstance(value, list):
        items = target.list_value
        if not value:
            items.SetInParent()
        values = items.values
        for item in value:
            _fill_value(values.add(), item)
    else:
        raise ValueError(f"not a JSON value: {type(value).__name__}")


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


def if_match(etag: str) -> dict[str, str]:
    """The If-Match header for a conditional update or delete (tasks, reservations); none for an empty etag."""
    return {"If-Match": etag} if etag else {}


def present_params(message: Any, fields: tuple[tuple[str, str], ...]) -> dict[str, object]:
    """Twilio parameters from the request's `optional` fields that are set (even to "" or 0), as named."""
    return {param: getattr(message, field) for field, param in fields if message.HasField(field)}


def timestamp_text(value: Any) -> str:
    """A google.protobuf.Timestamp as the ISO 8601 date-time Twilio's parameters take."""
    return datetime.fromtimestamp(value.seconds + value.nanos / 1e9, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
