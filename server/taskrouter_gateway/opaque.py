"""Versioned opaque tokens ("v1." + urlsafe base64, no padding) for page tokens and stream cursors. Pure."""

from __future__ import annotations

import base64
import binascii
import re

_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_VERSIONED = re.compile(r"v[0-9]+\.")


def encode(prefix: str, text: str) -> str:
    return prefix + base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode("ascii")


def decode(token: object, *, prefix: str, max_chars: int, what: str, error: type[ValueError]) -> str:
    """The text inside a token; raises `error` naming `what` for anything encode() could not have produced."""
    if not isinstance(token, str) or not token:
        raise error(f"{what} is empty")
    if len(token) > max_chars:
        raise error(f"{what} is too long: longer than {max_chars} characters")
    if not token.startswith(prefix):
        if _VERSIONED.match(token):
            version = token.split(".", 1)[0]
            raise error(f"{what} version {version!r} is not supported (an unknown version; expected {prefix[:-1]!r})")
        raise error(f"{what} has no version prefix (an unknown version): it was not issued by this gateway")
    payload = token[len(prefix) :]
    if not _B64URL.fullmatch(payload):
        raise error(f"{what} is not urlsafe base64")
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        text = raw.decode("ascii")
    except (binascii.Error, ValueError):
        raise error(f"{what} does not decode") from None
    # Re-encoding must give the same text: rejects stray trailing bits, so each token has one spelling.
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != payload:
        raise error(f"{what} does not decode")
    return text
