"""What the JetStream log is told: how to reach the brokers (NatsOptions) and the stream it keeps (StreamOptions)."""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from typing import Any, Final

import nkeys
from nats.js import api

from ... import logs
from ..log import DAY_MS

MIN_DUPLICATE_WINDOW_S: Final = 3600.0
_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
_PREFIX = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")


@dataclass(frozen=True, slots=True)
class NatsOptions:
    """How to reach the brokers. `servers` are nats:// or tls:// URLs of one cluster."""

    servers: tuple[str, ...] = ("nats://127.0.0.1:4222",)
    credentials_file: str | None = None
    user: str | None = None
    password: str | None = None
    token: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    connect_timeout_s: float = 5.0
    # How long a starting replica waits for a cluster that is still placing peers or electing its meta leader.
    forming_wait_s: float = 30.0
    name: str = "taskrouter-gateway"

    def check_credentials(self) -> None:
        """Raises OSError or ValueError unless credentials_file (if set) is a .creds file: nats.py reads it only when
        a server asks for a signature, and fails there on a malformed one with a TypeError, or loops forever on one
        without a JWT block."""
        path = self.credentials_file
        if not path:
            return
        with open(path, encoding="utf-8") as creds:  # UnicodeDecodeError is a ValueError
            lines = creds.read().splitlines()

        def line_after(marker: str) -> str:
            found = next((i for i, line in enumerate(lines) if marker in line), None)
            return lines[found + 1].strip() if found is not None and found + 1 < len(lines) else ""

        if line_after("BEGIN NATS USER JWT").count(".") != 2:
            raise ValueError(f"{path} holds no user JWT (not a .creds file)")
        try:
            key = nkeys.from_seed(bytearray(line_after("BEGIN USER NKEY SEED").encode()))
        except (nkeys.NkeysError, ValueError):
            raise ValueError(f"{path} holds no valid user nkey seed") from None  # never the seed itself
        if not key.public_key.startswith(b"U"):
            raise ValueError(f"{path}: its nkey seed is not a user's")

    def tls_context(self) -> ssl.SSLContext | None:
        if not (self.tls_ca or self.tls_cert):
            return None
        context = ssl.create_default_context(cafile=self.tls_ca)
        if self.tls_cert:
            context.load_cert_chain(self.tls_cert, self.tls_key)
        return context


@dataclass(frozen=True, slots=True)
class StreamOptions:
    name: str = "TASKROUTER_EVENTS"
    prefix: str = "taskrouter.events"
    replicas: int = 1
    max_age_ms: int = 30 * DAY_MS
    max_bytes: int | None = None  # None: no size cap
    duplicate_window_s: float = MIN_DUPLICATE_WINDOW_S
    max_msgs: int | None = None  # None: no count cap (tests use a small one to force retention)

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"stream name must be 1-32 of A-Z a-z 0-9 _ -, got {self.name!r}")
        if not _PREFIX.fullmatch(self.prefix):
            raise ValueError(f"subject prefix must be dot-separated tokens of A-Z a-z 0-9 _ -, got {self.prefix!r}")
        if self.replicas not in (1, 3):
            raise ValueError(f"replicas must be 1 or 3, got {self.replicas}")
        if self.max_age_ms <= 0 or (self.max_bytes is not None and self.max_bytes <= 0):
            raise ValueError("max_age_ms and max_bytes must be > 0")
        if self.max_msgs is not None and self.max_msgs <= 0:
            raise ValueError("max_msgs must be > 0")
        if not 0 < self.duplicate_window_s <= self.max_age_ms / 1000:
            raise ValueError("duplicate_window_s must be > 0 and at most max_age")

    def config(self) -> api.StreamConfig:
        return api.StreamConfig(
            name=self.name,
            subjects=[f"{self.prefix}.>"],
            retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.FILE,
            num_replicas=self.replicas,
            max_age=self.max_age_ms / 1000,
            max_bytes=self.max_bytes if self.max_bytes is not None else -1,
            max_msgs=self.max_msgs if self.max_msgs is not None else -1,
            discard=api.DiscardPolicy.OLD,
            duplicate_window=self.duplicate_window_s,
            deny_delete=True,
            deny_purge=True,
        )

    def conflicts(self, have: api.StreamConfig) -> list[str]:
        """What makes an existing stream unusable as this log, one phrase each."""
        want = self.config()
        out: list[str] = []

        def differs(what: str, got: object, wanted: object) -> None:
            if got != wanted:
                out.append(f"{what} is {got} (want {wanted})")

        differs("subjects", have.subjects, want.subjects)
        differs("storage", _value(have.storage), _value(want.storage))
        differs("replicas", have.num_replicas, want.num_replicas)
        differs("retention", _value(have.retention), _value(want.retention))
        differs("discard", _value(have.discard), _value(want.discard))
        differs("max_age seconds", round(have.max_age or 0), round(want.max_age or 0))
        differs("max_bytes", have.max_bytes if have.max_bytes is not None else -1, want.max_bytes)
        differs("max_msgs", have.max_msgs if have.max_msgs is not None else -1, want.max_msgs)
        if not have.deny_delete or not have.deny_purge:
            out.append("deletes or purges are allowed (both must be denied so seqs stay gap-free)")
        if (have.duplicate_window or 0) < self.duplicate_window_s - 0.001:
            out.append(f"duplicate_window is {have.duplicate_window}s (want at least {self.duplicate_window_s}s)")
        return out


def redact_url(url: str) -> str:
    """A NATS URL without its user:password@ or token@ part, for start-up errors."""
    return logs.redact_url(url, mask="***")


def _value(enum_or_str: Any) -> Any:
    return getattr(enum_or_str, "value", enum_or_str)
