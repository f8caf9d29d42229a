"""Bearer JWTs verified against a JWKS file, as an alternative to hashed tokens (auth.py's `[jwt]` table).

The caller is `jwt:<sub>`; its scopes come from the standard `scope` claim or `scp` (each a list or a
space-separated string), keeping only read/write/events. Its workspaces come from the claim the operator names
in `[jwt] workspaces_claim` (a list or space-separated string of WS SIDs, or "*" for every workspace); a token
without it is refused, never read as "every workspace". `iss`, `aud`, `exp` and `sub` are required and
checked. A verified token is remembered until it expires, so a caller reusing its token pays for the
signature check once, not per RPC.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

import jwt

from .scopes import SCOPES

_CACHE_LIMIT = 4096
_LEEWAY_SECONDS = 30
_WORKSPACE = re.compile(r"^WS[0-9a-fA-F]{32}$")
EVERY_WORKSPACE = "*"
ALL_WORKSPACES = frozenset({EVERY_WORKSPACE})


class JwtConfigError(ValueError):
    """The [jwt] table or its JWKS file is unusable; the message names the file."""


class InvalidJwt(Exception):
    """The token does not verify; the message says why, never the token."""


@dataclass(frozen=True, slots=True)
class JwtClaims:
    name: str
    scopes: frozenset[str]
    workspaces: frozenset[str]  # WS SIDs, or ALL_WORKSPACES


def load_jwks(path: str) -> jwt.PyJWKSet:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        return jwt.PyJWKSet.from_dict(data)
    except OSError as exc:
        raise JwtConfigError(f"cannot read JWKS file {path}: {exc.strerror}") from None
    except (ValueError, jwt.PyJWKSetError, jwt.InvalidKeyError) as exc:
        raise JwtConfigError(f"JWKS file {path} is not a usable key set: {exc}") from None


class JwtVerifier:
    def __init__(self, keys: jwt.PyJWKSet, *, issuer: str, audience: str, workspaces_claim: str) -> None:
        self._keys = {key.key_id: key for key in keys.keys}
        self._issuer = issuer
        self._audience = audience
        self._workspaces_claim = workspaces_claim
        self._verified: dict[str, tuple[JwtClaims, float]] = {}

    def _key_for(self, token: str) -> jwt.PyJWK:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:  # the base: a non-string kid or a bad crit is not a DecodeError
            raise InvalidJwt(f"the bearer token is not a well-formed JWT ({type(exc).__name__})") from None
        kid = header.get("kid")
        if kid in self._keys:
            return self._keys[kid]
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        raise InvalidJwt("the JWT names no key this gateway knows (kid)")

    def verify(self, token: str) -> JwtClaims:
        cached = self._verified.get(token)
        if cached is not None and cached[1] > time.time():
            return cached[0]
        key = self._key_for(token)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=[key.algorithm_name],
                audience=self._audience,
                issuer=self._issuer,
                leeway=_LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidJwt("the JWT has expired") from None
        except jwt.PyJWTError as exc:
            raise InvalidJwt(f"the JWT does not verify: {type(exc).__name__}") from None
        result = _claims(claims, self._workspaces_claim)
        if len(self._verified) >= _CACHE_LIMIT:
            self._verified.clear()  # bounded; the next calls simply verify again
        self._verified[token] = (result, float(claims["exp"]) + _LEEWAY_SECONDS)
        return result


def _listed(value: Any) -> list[Any] | None:
    """A claim given as a list, or as one space-separated string (as OAuth's `scope`); None otherwise."""
    if isinstance(value, str):
        return value.split()
    return value if isinstance(value, list) else None


def _claims(claims: dict[str, Any], workspaces_claim: str) -> JwtClaims:
    granted = _listed(claims.get("scope", claims.get("scp", ""))) or []
    if workspaces_claim not in claims:
        raise InvalidJwt(f'the JWT has no {workspaces_claim!r} claim (WS SIDs, or "*" for every workspace)')
    listed = _listed(claims[workspaces_claim])
    if not listed or not all(isinstance(w, str) for w in listed):
        raise InvalidJwt(f"the JWT's {workspaces_claim!r} claim must list WS SIDs, or be \"*\"")
    if EVERY_WORKSPACE in listed:
        if len(listed) > 1:
            raise InvalidJwt(f'the JWT\'s {workspaces_claim!r} claim: "*" must stand alone')
        allowed = ALL_WORKSPACES
    elif all(_WORKSPACE.match(w) for w in listed):
        allowed = frozenset(listed)
    else:
        raise InvalidJwt(f"the JWT's {workspaces_claim!r} claim must list WS SIDs, or be \"*\"")
    return JwtClaims(f"jwt:{claims['sub']}", frozenset(s for s in granted if s in SCOPES), allowed)
