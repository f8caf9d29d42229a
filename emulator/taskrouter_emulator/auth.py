"""HTTP Basic auth as Twilio does it: account SID + auth token, or API key SID + secret.

The accepted Authorization header values are computed once, so a request costs one set lookup; only a
header that misses (odd casing or spacing of the scheme) is decoded and compared the slow way.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from aiohttp import web

from .config import EmulatorConfig
from .errors import AUTHENTICATION_FAILED, TwilioApiError

CHALLENGE = {"WWW-Authenticate": 'Basic realm="Twilio API"'}


def _header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


class Authenticator:
    def __init__(self, config: EmulatorConfig) -> None:
        self._pairs = ((config.account_sid, config.auth_token), (config.api_key_sid, config.api_key_secret))
        self._accepted = frozenset(_header(user, secret) for user, secret in self._pairs)

    def accepts(self, authorization: str | None) -> bool:
        if authorization is None:
            return False
        if authorization in self._accepted:
            return True
        scheme, _, encoded = authorization.strip().partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            username, _, password = base64.b64decode(encoded.strip(), validate=True).partition(b":")
        except binascii.Error:
            return False
        return any(
            hmac.compare_digest(username, user.encode()) & hmac.compare_digest(password, secret.encode())
            for user, secret in self._pairs
        )


def auth_middleware(authenticator: Authenticator):
    @web.middleware
    async def middleware(request: web.Request, handler):
        authorization = request.headers.get("Authorization")
        if not authenticator.accepts(authorization):
            reason = "no credentials were sent" if authorization is None else "the credentials are wrong"
            raise TwilioApiError(
                401,
                AUTHENTICATION_FAILED,
                f"Authenticate: {reason}; use HTTP Basic auth with the account SID and auth token, "
                "or an API key SID and secret",
                headers=dict(CHALLENGE),
            )
        return await handler(request)

    return middleware
