"""Twilio's X-Twilio-Signature, as TaskRouter puts it on every event callback.

The signed string is the full URL the request goes to (scheme, host, port if any, path and query,
exactly as posted) followed by every POST parameter's name and value, parameters sorted by name,
with no separators. It is signed with HMAC-SHA1 keyed by the account's auth token and sent base64-encoded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

SIGNATURE_HEADER = "X-Twilio-Signature"


def compute_signature(url: str, params: Mapping[str, str], auth_token: str) -> str:
    if not auth_token:
        raise ValueError("auth_token must be a non-empty string")
    payload = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(auth_token.encode("utf-8"), payload.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")
