"""The Connect port's settings: kept apart from the server so loading settings imports no HTTP server."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..settings_base import ConfigError, check_port


@dataclass(frozen=True)
class HttpSettings:
    """The Connect port (--http-port); None: off. `cors_origins`: browser origins allowed to call it."""

    host: str = "127.0.0.1"
    port: int | None = None
    cors_origins: tuple[str, ...] = ()

    def validate(self) -> None:
        check_port("http_port", self.port)
        for origin in self.cors_origins:
            scheme, sep, rest = origin.partition("://")
            if origin == "*":
                raise ConfigError("http_cors_origin: '*' is not allowed (calls carry bearer tokens); list origins")
            if scheme not in ("http", "https") or not sep or not rest or "/" in rest.rstrip("/"):
                raise ConfigError(f"http_cors_origin: {origin!r} is not an origin like https://console.example.com")


def cors_origins(raw: Iterable[str] | str) -> tuple[str, ...]:
    items = raw.split(",") if isinstance(raw, str) else raw
    return tuple(item.strip().rstrip("/") for item in items if item.strip())
