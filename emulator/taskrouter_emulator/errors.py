"""Twilio's JSON error body and the codes the emulator answers with."""

from __future__ import annotations

BAD_PARAMETER = 20001
AUTHENTICATION_FAILED = 20003
NOT_FOUND = 20404
PRECONDITION_FAILED = 20412
TOO_MANY_REQUESTS = 20429
INTERNAL_ERROR = 20500
SERVICE_UNAVAILABLE = 20503

MORE_INFO = "https://www.twilio.com/docs/errors/{code}"


class TwilioApiError(Exception):
    """Raised anywhere in a handler; the error middleware turns it into Twilio's error body."""

    def __init__(self, status: int, code: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": MORE_INFO.format(code=self.code),
            "status": self.status,
        }


def bad_parameter(message: str) -> TwilioApiError:
    return TwilioApiError(400, BAD_PARAMETER, message)


def not_found(message: str = "") -> TwilioApiError:
    # An empty message is filled in by the error middleware with Twilio's "The requested resource
    # {path} was not found", which names the request path the engine does not know.
    return TwilioApiError(404, NOT_FOUND, message)


def etag_matches(if_match: str | None, version: int) -> bool:
    """RFC 7232 If-Match against a record's version; quoted, bare and weak (W/) tags all compare by value."""
    if if_match is None:
        return True
    for tag in if_match.split(","):
        tag = tag.strip()
        if tag == "*":
            return True
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag.strip('"') == str(version):
            return True
    return False


def check_if_match(if_match: str | None, version: int, what: str) -> None:
    """412 unless If-Match names the current version of `what` (e.g. "Worker WK..."); no header passes."""
    if not etag_matches(if_match, version):
        raise TwilioApiError(
            412,
            PRECONDITION_FAILED,
            f'If-Match {if_match} does not match the current version of {what} (ETag "{version}")',
        )
