"""Twilio's form and query encoding: typed Python values in, ordered (key, str) pairs out. Pure."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any
from urllib.parse import urlencode

import orjson

Pairs = list[tuple[str, str]]
Params = Mapping[str, Any] | Iterable[tuple[str, Any]]

_SCALARS = (str, bool, int, float, datetime, date)


@dataclass(frozen=True, slots=True)
class Json:
    """Forces JSON encoding, e.g. for a list that is one JSON parameter rather than repeated keys."""

    value: Any


def encode_scalar(key: str, value: Any) -> str:
    """One value as Twilio reads it. Raises TypeError/ValueError naming the key."""
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"form parameter {key!r}: {value!r} is not a finite number")
        return repr(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"form parameter {key!r}: naive datetime is ambiguous; give it a timezone")
        text = value.astimezone(timezone.utc).isoformat()
        return text.removesuffix("+00:00") + "Z"
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"form parameter {key!r}: cannot encode {type(value).__name__}")


def _json(key: str, value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError as exc:
        raise TypeError(f"form parameter {key!r}: not JSON-serialisable: {exc}") from None


def encode_params(params: Params | None) -> Pairs:
    """Encode form or query parameters.

    bool -> "true"/"false"; int/float -> str; aware datetime -> ISO 8601 UTC; None -> omitted;
    Mapping or Json(...) -> compact JSON; list/tuple of scalars -> one pair per item (Twilio's repeated
    parameters); a list holding mappings or lists -> compact JSON.
    """
    if params is None:
        return []
    items = params.items() if isinstance(params, Mapping) else params
    pairs: Pairs = []
    for key, value in items:
        if not isinstance(key, str) or not key:
            raise TypeError(f"form parameter names must be non-empty strings, got {key!r}")
        if value is None:
            continue
        if isinstance(value, Json):
            pairs.append((key, _json(key, value.value)))
        elif isinstance(value, Mapping):
            pairs.append((key, _json(key, value)))
        elif isinstance(value, (list, tuple)):
            if all(item is None or isinstance(item, _SCALARS) for item in value):
                pairs.extend((key, encode_scalar(key, item)) for item in value if item is not None)
            else:
                pairs.append((key, _json(key, value)))
        else:
            pairs.append((key, encode_scalar(key, value)))
    return pairs


def urlencode_pairs(pairs: Pairs) -> str:
    """application/x-www-form-urlencoded text of already-encoded pairs."""
    return urlencode(pairs)
