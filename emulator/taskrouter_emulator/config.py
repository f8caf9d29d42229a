"""The emulator's settings: one frozen object, built once by the CLI or by whoever embeds the emulator."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from . import defaults
from .sids import is_sid


@dataclass(frozen=True)
class EmulatorConfig:
    host: str = "127.0.0.1"
    port: int = 8181  # 0 picks a free port; RunningEmulator.base_url then names the real one
    # Absolute URLs in responses (url, links, meta.*_page_url) start with this when set, otherwise with
    # the address the emulator is actually bound to. Set it when clients reach the emulator through a proxy.
    public_base_url: str | None = None
    account_sid: str = defaults.DEFAULT_ACCOUNT_SID
    auth_token: str = defaults.DEFAULT_AUTH_TOKEN
    api_key_sid: str = defaults.DEFAULT_API_KEY_SID
    api_key_secret: str = defaults.DEFAULT_API_KEY_SECRET
    state_file: str | None = None  # SQLite file; None keeps all state in memory
    default_workspace_sid: str = defaults.DEFAULT_WORKSPACE_SID
    # Callback URLs (EventCallbackUrl, AssignmentCallbackUrl, FallbackAssignmentCallbackUrl) may name any host.
    # The standalone emulator allows it (it is started on purpose, often beside the app in compose); the
    # gateway's embedded one does not unless told, since with auth off anyone could make it POST anywhere.
    allow_remote_callbacks: bool = True
    # Hosts allowed besides loopback when remote callbacks are not: the embedding gateway's own webhook host.
    callback_hosts: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, got {self.port}")
        if not is_sid(self.account_sid, "AC"):
            raise ValueError(f"account_sid must be an AC sid, got {self.account_sid!r}")
        if not is_sid(self.api_key_sid, "SK"):
            raise ValueError(f"api_key_sid must be an SK sid, got {self.api_key_sid!r}")
        if not is_sid(self.default_workspace_sid, "WS"):
            raise ValueError(f"default_workspace_sid must be a WS sid, got {self.default_workspace_sid!r}")
        if not self.auth_token or not self.api_key_secret:
            raise ValueError("auth_token and api_key_secret must not be empty")
        if self.public_base_url is not None:
            parts = urlsplit(self.public_base_url)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
                raise ValueError(f"public_base_url must be an http(s) origin, got {self.public_base_url!r}")

    def callback_allowed(self, url: str) -> bool:
        """Whether this emulator may POST a callback to `url`. Names are not resolved: what a name resolves
        to can change between this check and the POST, so only localhost and loopback literals are local."""
        if self.allow_remote_callbacks:
            return True
        try:
            host = urlsplit(url).hostname
        except ValueError:
            return False
        if host is None:
            return False
        if host == "localhost" or host in self.callback_hosts:
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def bound_base_url(self, port: int) -> str:
        """The base URL for an emulator listening on `port`: public_base_url if set, else the bound address."""
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        return local_url(self.host, port)


def local_url(host: str, port: int) -> str:
    """http://host:port for a socket bound to `host`; a wildcard bind is named by its loopback address."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"
