"""How one event is laid out in a JetStream message: its subject, and a small binary prefix before the payload.

The payload after the prefix is exactly the bytes the SQLite log stores (an eventlog.records record). The prefix
carries the indexed fields, so a StoredEvent is rebuilt from the message alone (no header parsing on the hot
read path); the subject is only for filtering and is never parsed back.

Prefix: version byte 1; sid, workspace_sid, event_type, resource_sid as u16 length + UTF-8; event_date_ms u64.
"""

from __future__ import annotations

import re
import struct
from typing import Final

from ..log import NewEvent, StoredEvent

VERSION: Final = 1
_U16 = struct.Struct(">H")
_U64 = struct.Struct(">Q")
_BAD_TOKEN_CHARS = re.compile(r"[^A-Za-z0-9_-]")


class UndecodableMessage(ValueError):
    """A stream message this build cannot read (not written by a gateway, or by a newer one)."""


def token(text: str) -> str:
    """A subject token: NATS forbids '.', '*', '>' and whitespace in tokens; an empty token is invalid."""
    return _BAD_TOKEN_CHARS.sub("_", text) or "_"


def subject_for(prefix: str, event: NewEvent) -> str:
    """`<prefix>.<workspace_sid>.<event type tokens>`, each token made subject-safe."""
    types = ".".join(token(t) for t in event.event_type.split("."))
    return f"{prefix}.{token(event.workspace_sid)}.{types}"


def workspace_filter(prefix: str, workspace_sid: str) -> str:
    return f"{prefix}.{token(workspace_sid)}.>"


def encode(event: NewEvent) -> bytes:
    parts = [bytes((VERSION,))]
    for text in (event.sid, event.workspace_sid, event.event_type, event.resource_sid):
        raw = text.encode()
        if len(raw) > 0xFFFF:
            raise ValueError("event field longer than 65535 bytes")
        parts.append(_U16.pack(len(raw)))
        parts.append(raw)
    parts.append(_U64.pack(event.event_date_ms))
    parts.append(event.payload)
    return b"".join(parts)


def decode(data: bytes, seq: int, received_ms: int) -> StoredEvent:
    try:
        if data[0] != VERSION:
            raise UndecodableMessage(f"stream message {seq}: unknown layout version {data[0]}")
        pos = 1
        fields: list[str] = []
        for _ in range(4):
            (size,) = _U16.unpack_from(data, pos)
            pos += 2
            fields.append(data[pos : pos + size].decode())
            pos += size
        (event_date_ms,) = _U64.unpack_from(data, pos)
        pos += 8
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise UndecodableMessage(f"stream message {seq} is not a gateway event: {exc}") from None
    sid, workspace_sid, event_type, resource_sid = fields
    return StoredEvent(seq, sid, workspace_sid, event_type, resource_sid, event_date_ms, received_ms, data[pos:])
