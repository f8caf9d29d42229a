"""PageToken paging, Twilio style.

A PageToken is an opaque cursor: the sort key of the last (or first) record a page showed, plus the list
it belongs to. The next page is "records after that key", so pages stay stable while records are added
or deleted between requests. `Page` is client state only: it is echoed in meta.page and never moves the
window (Twilio's docs: "This value is simply for client state").
"""

from __future__ import annotations

import base64
import binascii
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

import orjson

from . import defaults, params
from .errors import bad_parameter

T = TypeVar("T")
SortKey = tuple[Any, ...]

_TOKEN_PREFIX = "PT"
_PAGING_PARAMS = frozenset({"PageSize", "Page", "PageToken"})


@dataclass(frozen=True)
class Cursor:
    forward: bool  # True: records after `key`; False: records before it (a previous_page_url)
    key: SortKey


@dataclass(frozen=True)
class PageRequest:
    page_size: int
    page: int
    cursor: Cursor | None


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    offset: int  # index of items[0] in the whole (filtered, sorted) list
    next_token: str | None
    previous_token: str | None


def encode_token(scope: str, cursor: Cursor) -> str:
    raw = orjson.dumps({"s": scope, "f": cursor.forward, "k": list(cursor.key)})
    return _TOKEN_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(scope: str, token: str) -> Cursor:
    """The cursor in `token`; a token from another list (or not from us at all) is a 400."""
    invalid = bad_parameter(f"Invalid PageToken {token!r}: use the next_page_url or previous_page_url we returned")
    if not token.startswith(_TOKEN_PREFIX):
        raise invalid
    body = token[len(_TOKEN_PREFIX) :]
    try:
        data = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError):
        raise invalid from None
    if not isinstance(data, dict) or data.get("s") != scope or not isinstance(data.get("f"), bool):
        raise invalid
    key = data.get("k")
    if not isinstance(key, list) or not key or not all(isinstance(part, (int, float, str)) for part in key):
        raise invalid
    return Cursor(forward=data["f"], key=tuple(key))


def parse_page_request(query: Mapping[str, str], scope: str) -> PageRequest:
    page_size = params.integer(query, "PageSize", minimum=1, maximum=defaults.MAX_PAGE_SIZE)
    page = params.integer(query, "Page", minimum=0)
    token = params.text(query, "PageToken")
    return PageRequest(
        page_size=page_size or defaults.DEFAULT_PAGE_SIZE,
        page=page or 0,
        cursor=decode_token(scope, token) if token is not None else None,
    )


def paginate(items: Sequence[T], key: Callable[[T], SortKey], request: PageRequest, scope: str) -> Page[T]:
    """One page of `items`, which must already be sorted by `key` (ascending, unique keys)."""
    keys = [key(item) for item in items]
    size = request.page_size
    cursor = request.cursor
    if cursor is None:
        start = 0
        end = min(size, len(items))
    else:
        try:
            if cursor.forward:
                start = bisect_right(keys, cursor.key)
                end = min(start + size, len(items))
            else:
                end = bisect_left(keys, cursor.key)
                start = max(0, end - size)
        except TypeError:  # a key of another shape: not a token for this list
            raise bad_parameter("Invalid PageToken: use the next_page_url or previous_page_url we returned") from None
    window = list(items[start:end])
    next_token = encode_token(scope, Cursor(True, keys[end - 1])) if window and end < len(items) else None
    previous_token = encode_token(scope, Cursor(False, keys[start])) if window and start > 0 else None
    return Page(items=window, offset=start, next_token=next_token, previous_token=previous_token)


def _query_string(filters: list[tuple[str, str]], size: int, page: int, token: str | None) -> str:
    pairs = [*filters, ("PageSize", str(size)), ("Page", str(page))]
    if token is not None:
        pairs.append(("PageToken", token))
    return urlencode(pairs)


def filters_of(query: Mapping[str, str]) -> list[tuple[str, str]]:
    """The request's non-paging query parameters, in the order sent, for the meta URLs."""
    return [(name, value) for name, value in query.items() if name not in _PAGING_PARAMS]


def meta(
    base_url: str, path: str, query: Mapping[str, str], key: str, request: PageRequest, page: Page[Any]
) -> dict[str, Any]:
    """The v1 `meta` object (first/next/previous/url absolute)."""
    filters = filters_of(query)
    size = request.page_size
    here = base_url + path + "?"
    current_token = params.text(query, "PageToken")
    return {
        "first_page_url": here + _query_string(filters, size, 0, None),
        "key": key,
        "next_page_url": (
            here + _query_string(filters, size, request.page + 1, page.next_token) if page.next_token else None
        ),
        "page": request.page,
        "page_size": size,
        "previous_page_url": (
            here + _query_string(filters, size, max(request.page - 1, 0), page.previous_token)
            if page.previous_token
            else None
        ),
        "url": here + _query_string(filters, size, request.page, current_token),
    }


def legacy_meta(path: str, query: Mapping[str, str], request: PageRequest, page: Page[Any]) -> dict[str, Any]:
    """The 2010-04-01 API's paging fields (relative URIs, start/end record indices)."""
    filters = filters_of(query)
    size = request.page_size
    here = path + "?"
    current_token = params.text(query, "PageToken")
    start = page.offset if page.items else 0
    return {
        "first_page_uri": here + _query_string(filters, size, 0, None),
        "next_page_uri": (
            here + _query_string(filters, size, request.page + 1, page.next_token) if page.next_token else None
        ),
        "previous_page_uri": (
            here + _query_string(filters, size, max(request.page - 1, 0), page.previous_token)
            if page.previous_token
            else None
        ),
        "page": request.page,
        "page_size": size,
        "start": start,
        "end": start + max(len(page.items) - 1, 0),
        "uri": here + _query_string(filters, size, request.page, current_token),
    }
