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


def not_found(path: str) -> TwilioApiError:
    return TwilioApiError(404, NOT_FOUND, f"The requested resource {path} was not found")
