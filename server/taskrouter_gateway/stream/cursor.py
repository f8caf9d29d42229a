"""Opaque stream cursors for gRPC clients: (log_id, seq) behind a version prefix. Pure.

A cursor is "v1." + urlsafe base64 (no padding) of "<log_id>:<seq>". The log_id ties a cursor to one log:
a cursor from another deployment's (or a recreated) log would point at unrelated seqs, so it is refused.
"""

from __future__ import annotations

import re

from .. import opaque

CURSOR_PREFIX = "v1."
MAX_CURSOR_CHARS = 256
MAX_SEQ = 2**63 - 1  # SQLite's INTEGER range; JetStream's uint64 seqs never get near it in practice
_LOG_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_DIGITS = re.compile(r"[0-9]+")


class InvalidCursor(ValueError):
    """The cursor is not one this log issued; the message says why."""


def encode_cursor(log_id: str, seq: int) -> str:
    """Cursor for resuming after `seq` in the log `log_id`."""
    if not isinstance(log_id, str) or not _LOG_ID.fullmatch(log_id):
        raise ValueError(f"log_id must be 1-64 urlsafe characters, got {log_id!r}")
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= MAX_SEQ:
        raise ValueError(f"seq must be an int in 0..{MAX_SEQ}, got {seq!r}")
    return opaque.encode(CURSOR_PREFIX, f"{log_id}:{seq}")


def decode_cursor(text: str, log_id: str) -> int:
    """The seq a cursor resumes after. Raises InvalidCursor unless `text` came from encode_cursor(log_id, …)."""
    body = opaque.decode(text, prefix=CURSOR_PREFIX, max_chars=MAX_CURSOR_CHARS, what="cursor", error=InvalidCursor)
    cursor_log, sep, seq_text = body.rpartition(":")
    if not sep or not _LOG_ID.fullmatch(cursor_log):
        raise InvalidCursor("cursor is malformed")
    if seq_text.startswith("-") and _DIGITS.fullmatch(seq_text[1:]):
        raise InvalidCursor(f"cursor seq is negative ({seq_text})")
    if not _DIGITS.fullmatch(seq_text) or (len(seq_text) > 1 and seq_text[0] == "0"):
        raise InvalidCursor("cursor seq is not a canonical decimal number")
    seq = int(seq_text)
    if seq > MAX_SEQ:
        raise InvalidCursor("cursor seq is out of range")
    if cursor_log != log_id:
        # Another deployment's log, or this log was recreated: its seqs mean nothing here.
        raise InvalidCursor("cursor belongs to a different event log; resume by time or from the start instead")
    return seq
