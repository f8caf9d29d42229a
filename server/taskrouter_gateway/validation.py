"""Input checks that run before any upstream call; each failure names the request field."""

from __future__ import annotations

import re

import orjson

from google.protobuf import timestamp_pb2

# A Twilio SID: two upper-case letters naming its kind, then 32 hex digits. The one definition, for requests
# and callbacks alike.
_SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")
# An HTTP header value we pass on (If-Match): visible ASCII and spaces only; aiohttp refuses CR, LF, NUL.
_HEADER_VALUE = re.compile(r"^[\x20-\x7e]*$")
MAX_FRIENDLY_NAME = 64
MAX_PAGE_SIZE = 1000
MAX_HEADER_VALUE = 256
# google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
MIN_TIMESTAMP_SECONDS = -62_135_596_800
MAX_TIMESTAMP_SECONDS = 253_402_300_799


def is_sid(value: object, prefix: str | None = None) -> bool:
    return (
        isinstance(value, str)
        and _SID.fullmatch(value) is not None
        and (prefix is None or value.startswith(prefix))
    )


class InvalidArgument(Exception):
    """Carries (field, description) pairs; errors.invalid_argument turns them into BadRequest."""

    def __init__(self, violations: list[tuple[str, str]]):
        super().__init__("; ".join(f"{f}: {d}" for f, d in violations))
        self.violations = violations


class Checker:
    """Collects every violation of a request, so one round trip reports them all."""

    __slots__ = ("violations",)

    def __init__(self) -> None:
        self.violations: list[tuple[str, str]] = []

    def fail(self, field: str, description: str) -> None:
        self.violations.append((field, description))

    def sid(self, field: str, value: str, prefix: str, *, required: bool = False) -> None:
        if not value:
            if required:
                self.fail(field, f"is required (a {prefix} SID)")
            return
        if not is_sid(value, prefix):
            self.fail(field, f"must be a {prefix} SID: {prefix} followed by 32 hex digits")

    def friendly_name(self, field: str, value: str | None, *, required: bool = False) -> None:
        if value is None or value == "":
            if required:
                self.fail(field, "is required")
            return
        if len(value) > MAX_FRIENDLY_NAME:
            self.fail(field, f"must be at most {MAX_FRIENDLY_NAME} characters, got {len(value)}")

    def json_object(self, field: str, value: str | None) -> None:
        if value is None or value == "":
            return
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            self.fail(field, f"must be a JSON object string: {exc}")
            return
        if not isinstance(parsed, dict):
            self.fail(field, f"must be a JSON object, got {type(parsed).__name__}")

    def page_size(self, value: int, field: str = "page_size") -> None:
        # 0 means "server default", as in Google's AIP-158.
        if value < 0 or value > MAX_PAGE_SIZE:
            self.fail(field, f"must be between 1 and {MAX_PAGE_SIZE} (0 for the default), got {value}")

    def timestamp_ms(self, field: str, value: timestamp_pb2.Timestamp) -> int | None:
        """Milliseconds since the epoch, or None (and a violation) when `value` is not a valid Timestamp."""
        if not 0 <= value.nanos <= 999_999_999:
            self.fail(field, f"nanos must be in 0..999999999, got {value.nanos}")
            return None
        if not MIN_TIMESTAMP_SECONDS <= value.seconds <= MAX_TIMESTAMP_SECONDS:
            self.fail(field, "must be between 0001-01-01 and 9999-12-31")
            return None
        return value.seconds * 1000 + value.nanos // 1_000_000

    def header_value(self, field: str, value: str) -> None:
        """A value sent upstream in an HTTP header."""
        if len(value) > MAX_HEADER_VALUE:
            self.fail(field, f"must be at most {MAX_HEADER_VALUE} characters, got {len(value)}")
        elif not _HEADER_VALUE.match(value):
            self.fail(field, "must be printable ASCII (no control characters): pass the value you read")

    def url(self, field: str, value: str | None) -> None:
        if value and not re.match(r"^https?://[^\s/]+", value):
            self.fail(field, "must be an absolute http(s) URL")

    def done(self) -> None:
        if self.violations:
            raise InvalidArgument(self.violations)
