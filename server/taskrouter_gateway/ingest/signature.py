"""X-Twilio-Signature checks for the TaskRouter event webhook. Pure: no I/O, no logging.

Twilio's rule (as its helper libraries' RequestValidator implements it):
- the signed string is the full URL Twilio requested (scheme, host, port if any, path, query) followed by
  every POST parameter as name + value, no separators: names sorted, and for a name sent more than once
  its distinct values sorted, each appended as name + value;
- HMAC-SHA1 keyed by the account's auth token, base64-encoded;
- Twilio may have signed the URL with or without the scheme's default port, so both are checked;
- a JSON-body webhook carries ``bodySHA256=<hex sha256 of the raw body>`` in its query string; the signature
  then covers the URL alone and the body is bound to it by that hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeGuard
from urllib.parse import parse_qs

__all__ = ["SIGNATURE_HEADER", "BODY_HASH_PARAM", "SignatureVerifier", "compute_signature", "signed_payload"]

SIGNATURE_HEADER = "X-Twilio-Signature"
BODY_HASH_PARAM = "bodySHA256"

FormParams = Sequence[tuple[str, str]] | Mapping[str, str]

_DEFAULT_PORTS = {"http": "80", "https": "443"}
_CANDIDATE_CACHE = 64


def signed_payload(url: str, params: FormParams) -> str:
    """The string Twilio signs: the URL, then name+value for each distinct pair, sorted by name then value."""
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, got {type(url).__name__}")
    return url + "".join(name + value for name, value in sorted(set(_pairs(params))))


def compute_signature(url: str, params: FormParams, token: str) -> str:
    """The X-Twilio-Signature value Twilio would send for this URL and these POST parameters."""
    return _sign(signed_payload(url, params), _token_bytes(token)).decode("ascii")


class SignatureVerifier:
    """Checks X-Twilio-Signature against one or more auth tokens (a secondary token during rotation).

    ``public_url``: the webhook URL as configured in Twilio, for deployments behind a proxy or load balancer
    where the URL the server sees (e.g. http://127.0.0.1:8080/events) is not the one Twilio signed.
    When set, it replaces the seen URL; the seen URL's query string is appended if ``public_url`` has none.

    Malformed request text (URL, signature, body) never raises: whatever does not verify is False. Wrong
    argument types are caller bugs and raise TypeError; configuration mistakes raise at construction.
    Tokens never appear in reprs or errors.
    """

    __slots__ = ("_tokens", "_public_url", "_candidates")

    def __init__(self, auth_tokens: Sequence[str], public_url: str | None = None) -> None:
        if isinstance(auth_tokens, (str, bytes)):
            # A bare string would be iterated as one-character tokens.
            raise TypeError("auth_tokens must be a sequence of tokens, not a single string")
        tokens = tuple(_token_bytes(token) for token in auth_tokens)
        if not tokens:
            raise ValueError("auth_tokens must hold at least one token")
        if public_url is not None:
            if not isinstance(public_url, str):
                raise TypeError(f"public_url must be a str, got {type(public_url).__name__}")
            _split_absolute(public_url)  # raises ValueError naming the problem
            if "#" in public_url:
                raise ValueError(f"public_url must not have a fragment: {public_url!r}")
        self._tokens = tokens
        self._public_url = public_url
        # The URL a webhook is seen at rarely varies: its candidates are worked out once. Bounded: a sender
        # choosing query strings must not grow it.
        self._candidates: dict[str, list[str]] = {}

    @property
    def public_url(self) -> str | None:
        return self._public_url

    def __repr__(self) -> str:
        return f"SignatureVerifier(tokens=<{len(self._tokens)} redacted>, public_url={self._public_url!r})"

    def candidate_urls(self, url: str) -> list[str]:
        """The URLs Twilio may have signed for a request seen at ``url``: as given (or the public URL),
        with the scheme's default port added when it has none, and with its port removed when it has one.

        Raises ValueError when the URL to check is not an absolute http(s) URL.
        """
        if not isinstance(url, str):
            raise TypeError(f"url must be a str, got {type(url).__name__}")
        base = url
        if self._public_url is not None:
            base = self._public_url
            if "?" not in base:
                query = _query_of(url)
                if query:
                    base = f"{base}?{query}"
        scheme, userinfo, host, port, rest = _split_absolute(base)
        prefix = f"{scheme}://{userinfo}{host}"
        candidates = [base]
        if port is None:
            candidates.append(f"{prefix}:{_DEFAULT_PORTS[scheme.lower()]}{rest}")
        else:
            candidates.append(prefix + rest)
        return list(dict.fromkeys(candidates))

    def verify_form(self, url: str, params: FormParams, signature: str | None) -> bool:
        """True when ``signature`` is Twilio's signature of a form-encoded request at ``url`` with ``params``."""
        if not _usable_signature(signature):
            return False
        suffix = signed_payload("", params)  # raises TypeError for non-str names/values: a caller bug
        candidates = self._candidates.get(url)
        if candidates is None:
            try:
                candidates = self.candidate_urls(url)
            except ValueError:
                return False
            if len(self._candidates) < _CANDIDATE_CACHE:
                self._candidates[url] = candidates
        expected = [candidate + suffix for candidate in candidates]
        return self._matches_any(expected, signature.encode("ascii"))

    def verify_json(self, url: str, body: bytes, signature: str | None) -> bool:
        """True when ``signature`` covers ``url`` (with no parameters) and the URL's bodySHA256 is the
        SHA-256 of ``body``. The hash is read from each candidate URL, i.e. from the part that is signed."""
        if not isinstance(body, (bytes, bytearray, memoryview)):
            raise TypeError(f"body must be bytes, got {type(body).__name__}")
        if not _usable_signature(signature):
            return False
        try:
            candidates = self.candidate_urls(url)
        except ValueError:
            return False
        body_hash = hashlib.sha256(body).hexdigest().encode("ascii")
        signature_bytes = signature.encode("ascii")
        valid = False
        for candidate in candidates:
            claimed = _body_hash_of(candidate)
            if claimed is None:
                continue
            # Both checks run for every candidate; `&` and `|=` rather than short-circuiting operators.
            hash_ok = hmac.compare_digest(claimed.encode("utf-8"), body_hash)
            valid |= self._matches_any([candidate], signature_bytes) & hash_ok
        return valid

    def _matches_any(self, payloads: Iterable[str], signature: bytes) -> bool:
        # Each comparison is constant-time; stopping at the first match only tells which URL form or token
        # signed, which is not secret.
        for payload in payloads:
            data = payload.encode("utf-8")
            for token in self._tokens:
                if hmac.compare_digest(_sign(data, token), signature):
                    return True
        return False


def _sign(payload: str | bytes, token: bytes) -> bytes:
    data = payload.encode("utf-8") if isinstance(payload, str) else payload
    return base64.b64encode(hmac.digest(token, data, "sha1"))


def _token_bytes(token: object) -> bytes:
    # Messages name the problem, never the value.
    if not isinstance(token, str):
        raise TypeError(f"auth token must be a str, got {type(token).__name__}")
    if not token:
        raise ValueError("auth token must be a non-empty string")
    return token.encode("utf-8")


def _pairs(params: FormParams) -> list[tuple[str, str]]:
    # Mapping.items() also covers multidicts (aiohttp's request.post()), which yield every repeated key.
    items = params.items() if isinstance(params, Mapping) else params
    if isinstance(items, (str, bytes)):
        raise TypeError("params must be a mapping or a sequence of (name, value) pairs, not a string")
    pairs: list[tuple[str, str]] = []
    for item in items:
        if not isinstance(item, tuple) or len(item) != 2:
            raise TypeError(f"params must hold (name, value) pairs, got {type(item).__name__}")
        name, value = item
        if not isinstance(name, str):
            raise TypeError(f"parameter name must be a str, got {type(name).__name__}")
        if not isinstance(value, str):
            raise TypeError(f"parameter {name!r}: value must be a str, got {type(value).__name__}")
        pairs.append((name, value))
    return pairs


def _usable_signature(signature: object) -> TypeGuard[str]:
    # Non-ASCII can never be base64; rejecting it here keeps compare_digest on bytes. Nothing secret leaks.
    return isinstance(signature, str) and bool(signature) and signature.isascii()


def _query_of(url: str) -> str:
    without_fragment = url.split("#", 1)[0]
    return without_fragment.partition("?")[2]


def _body_hash_of(url: str) -> str | None:
    values = parse_qs(_query_of(url), keep_blank_values=True).get(BODY_HASH_PARAM)
    return values[0] if values else None


def _split_absolute(url: str) -> tuple[str, str, str, str | None, str]:
    """(scheme, "user:pass@" or "", host, port or None, rest from the path on), without re-encoding anything:
    Twilio signs the exact text, so only the port may change between candidates."""
    scheme, sep, after = url.partition("://")
    if not sep or scheme.lower() not in _DEFAULT_PORTS:
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    end = len(after)
    for delimiter in "/?#":
        index = after.find(delimiter)
        if index != -1:
            end = min(end, index)
    authority, rest = after[:end], after[end:]
    userinfo, at, hostport = authority.rpartition("@")
    userinfo = userinfo + at
    if hostport.startswith("["):  # IPv6 literal: the port follows "]"
        close = hostport.find("]")
        if close == -1:
            raise ValueError(f"unterminated IPv6 host in URL: {url!r}")
        host, port_part = hostport[: close + 1], hostport[close + 1 :]
        if port_part and not port_part.startswith(":"):
            raise ValueError(f"bad text after IPv6 host in URL: {url!r}")
        port = port_part[1:] if port_part else None
    else:
        host, colon, port_text = hostport.partition(":")
        port = port_text if colon else None
    if not host or host == "[]":
        raise ValueError(f"URL has no host: {url!r}")
    # An empty port ("host:") counts as a port to drop; anything else must be digits.
    if port and not (port.isascii() and port.isdigit()):
        raise ValueError(f"URL port is not a number: {url!r}")
    return scheme, userinfo, host, port, rest
