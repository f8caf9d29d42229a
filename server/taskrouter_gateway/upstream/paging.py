"""Opaque page tokens for gRPC clients, wrapping Twilio's next-page URL. Pure.

A token is "v1." + urlsafe base64 (no padding) of the next page's path and query. Decoding insists on the
exact list path the RPC would call, so a crafted token cannot aim the gateway's credentials elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .. import opaque

TOKEN_PREFIX = "v1."
MAX_TOKEN_CHARS = 4096
_PRINTABLE_ASCII = re.compile(r"[\x21-\x7e]+")


class InvalidPageToken(ValueError):
    """The page_token is not one this gateway issued for this list."""


def encode_page_token(next_page: str) -> str:
    """Token for an absolute next_page_url or a relative next_page_uri; the host is dropped."""
    parts = urlsplit(next_page)
    if not parts.path.startswith("/"):
        raise ValueError(f"next page URL has no absolute path: {next_page!r}")
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return opaque.encode(TOKEN_PREFIX, target)


def next_page_token(body: Mapping[str, Any] | None) -> str | None:
    """From a list reply: TaskRouter's meta.next_page_url or the 2010 API's next_page_uri; None on the last page."""
    if not isinstance(body, Mapping):
        return None
    meta = body.get("meta")
    url = meta.get("next_page_url") if isinstance(meta, Mapping) else None
    if not url:
        url = body.get("next_page_uri")
    if not isinstance(url, str) or not url:
        return None
    return encode_page_token(url)


def decode_page_token(token: str, expected_path: str) -> str:
    """Path and query to GET for the next page. Raises InvalidPageToken unless the token is ours, for this list."""
    target = opaque.decode(
        token, prefix=TOKEN_PREFIX, max_chars=MAX_TOKEN_CHARS, what="page_token", error=InvalidPageToken
    )
    if not _PRINTABLE_ASCII.fullmatch(target):
        raise InvalidPageToken("page_token holds characters a URL cannot")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.fragment or not target.startswith("/"):
        raise InvalidPageToken("page_token does not hold a relative path")
    if parts.path != expected_path:
        raise InvalidPageToken("page_token belongs to a different list")
    if parts.query:
        try:
            parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True)
        except ValueError:
            raise InvalidPageToken("page_token has a malformed query") from None
    return target
