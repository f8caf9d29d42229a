"""Stream cursors: round trips, and every way a cursor can be wrong."""

from __future__ import annotations

import base64

import pytest

from taskrouter_gateway.stream.cursor import (
    CURSOR_PREFIX,
    MAX_CURSOR_CHARS,
    MAX_SEQ,
    InvalidCursor,
    decode_cursor,
    encode_cursor,
)

LOG = "439b925353dfcf30"


def _raw(body: str, prefix: str = CURSOR_PREFIX) -> str:
    return prefix + base64.urlsafe_b64encode(body.encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("seq", [0, 1, 7, 12345, 2**40 + 3, MAX_SEQ])
def test_round_trip(seq: int) -> None:
    text = encode_cursor(LOG, seq)
    assert text.startswith(CURSOR_PREFIX)
    assert "=" not in text and "/" not in text and "+" not in text
    assert decode_cursor(text, LOG) == seq


def test_cursor_is_opaque_but_distinct_per_seq_and_log() -> None:
    assert encode_cursor(LOG, 1) != encode_cursor(LOG, 2)
    assert encode_cursor(LOG, 1) != encode_cursor("another-log", 1)
    assert str(41) not in encode_cursor(LOG, 41)[len(CURSOR_PREFIX) :]


def test_cursor_from_another_log_is_refused() -> None:
    with pytest.raises(InvalidCursor, match="different event log"):
        decode_cursor(encode_cursor("another-log", 5), LOG)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("v1." + "A" * MAX_CURSOR_CHARS, "longer than"),
        ("v2." + base64.urlsafe_b64encode(f"{LOG}:5".encode()).decode().rstrip("="), "version 'v2' is not supported"),
        ("v0.abc", "version 'v0' is not supported"),
        (base64.urlsafe_b64encode(f"{LOG}:5".encode()).decode().rstrip("="), "no version prefix"),
        ("hello world", "no version prefix"),
        ("v1.", "not urlsafe base64"),
        ("v1.ab+/", "not urlsafe base64"),
        ("v1.abc=", "not urlsafe base64"),
        ("v1.A", "does not decode"),  # one base64 char cannot hold a byte
        ("v1." + base64.urlsafe_b64encode(b"\xff\xfe:1").decode().rstrip("="), "does not decode"),
        (_raw(f"{LOG}:-3"), "negative"),
        (_raw(f"{LOG}:-0"), "negative"),
        (_raw(f"{LOG}:"), "not a canonical decimal"),
        (_raw(f"{LOG}:+3"), "not a canonical decimal"),
        (_raw(f"{LOG}:007"), "not a canonical decimal"),
        (_raw(f"{LOG}: 7"), "not a canonical decimal"),
        (_raw(f"{LOG}:1e3"), "not a canonical decimal"),
        (_raw(f"{LOG}:{MAX_SEQ + 1}"), "out of range"),
        (_raw("7"), "malformed"),
        (_raw(":7"), "malformed"),
        (_raw("bad log!:7"), "malformed"),
    ],
)
def test_bad_cursors_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidCursor, match=reason):
        decode_cursor(text, LOG)


def test_non_canonical_base64_spelling_is_refused() -> None:
    good = encode_cursor(LOG, 51)  # 19 bytes: the last character carries 4 spare bits
    # Flip the unused low bits of the last character: decodes to the same bytes, but is not our spelling.
    payload = good[len(CURSOR_PREFIX) :]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    assert len(payload) % 4 != 0, "the test needs a cursor whose last character has spare bits"
    tweaked = payload[:-1] + alphabet[alphabet.index(payload[-1]) + 1]
    with pytest.raises(InvalidCursor, match="does not decode"):
        decode_cursor(CURSOR_PREFIX + tweaked, LOG)


def test_non_string_cursor_is_refused() -> None:
    with pytest.raises(InvalidCursor, match="empty"):
        decode_cursor(None, LOG)  # type: ignore[arg-type]


def test_invalid_cursor_is_a_value_error() -> None:
    assert issubclass(InvalidCursor, ValueError)


@pytest.mark.parametrize(
    ("log_id", "seq", "reason"),
    [
        ("", 1, "log_id"),
        ("has:colon", 1, "log_id"),
        ("x" * 65, 1, "log_id"),
        (LOG, -1, "seq"),
        (LOG, MAX_SEQ + 1, "seq"),
        (LOG, True, "seq"),
        (LOG, 1.0, "seq"),
    ],
)
def test_encode_rejects_bad_arguments(log_id: str, seq: int, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        encode_cursor(log_id, seq)
