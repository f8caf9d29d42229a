"""Opaque stream cursors for gRPC clients: (log_id, seq) behind a version prefix. Pure.

A cursor is "v1." + urlsafe base64 (no padding) of "<log_id>:<seq>". The log_id ties a cursor to one log:
a cursor from another deployment's (or a recreated) log would point at unrelated seqs, so it is refused.
"""

from __future__ import annotations

import base64
import binascii
import re

CURSOR_PREFIX = "v1."
MAX_CURSOR_CHARS = 256
MAX_SEQ = 2**63 - 1  # SQLite's INTEGER range; JetStream's uint64 seqs never get near it in practice
_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_LOG_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_DIGITS = re.compile(r"[0-9]+")
_VERSIONED = re.compile(r"v[0-9]+\.")


class InvalidCursor(ValueError):
    """The cursor is not one this log issued; the message says why."""


def encode_cursor(log_id: str, seq: int) -> str:
    """Cursor for resuming after `seq` in the log `log_id`."""
    if not isinstance(log_id, str) or not _LOG_ID.fullmatch(log_id):
        raise ValueError(f"log_id must be 1-64 urlsafe characters, got {log_id!r}")
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= MAX_SEQ:
        raise ValueError(f"seq must be an int in 0..{MAX_SEQ}, got {seq!r}")
    payload = base64.urlsafe_b64encode(f"{log_id}:{seq}".encode("ascii")).rstrip(b"=").decode("ascii")
    return CURSOR_PREFIX + payload


def decode_cursor(text: str, log_id: str) -> int:
    """The seq a cursor resumes after. Raises InvalidCursor unless `text` came from encode_cursor(log_id, …)."""
    if not isinstance(text, str) or not text:
        raise InvalidCursor("cursor is empty")
    if len(text) > MAX_CURSOR_CHARS:
        raise InvalidCursor(f"cursor is longer than {MAX_CURSOR_CHARS} characters")
    if not text.startswith(CURSOR_PREFIX):
        if _VERSIONED.match(text):
            raise InvalidCursor(f"cursor version {text.split('.', 1)[0]!r} is not supported (expected 'v1')")
        raise InvalidCursor("cursor has no version prefix; it was not issued by this gateway")
    payload = text[len(CURSOR_PREFIX) :]
    if not _B64URL.fullmatch(payload):
        raise InvalidCursor("cursor is not urlsafe base64")
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        body = raw.decode("ascii")
    except (binascii.Error, ValueError):
        raise InvalidCursor("cursor does not decode") from None
    # Re-encoding must give the same text: rejects stray trailing bits, so each cursor has one spelling.
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != payload:
        raise InvalidCursor("cursor does not decode")
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
