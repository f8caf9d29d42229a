"""URLs with credentials never reach a log line: in fields, in messages, and in tracebacks."""

from __future__ import annotations

import pytest
import structlog
from taskrouter_gateway import errors, logs


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("https://user:pw-1@gw.example/cb", "https://[redacted]@gw.example/cb"),
        ("https://user:p@ss-2@gw.example/cb?a=b@c", "https://[redacted]@gw.example/cb?a=b@c"),  # "@" in a password
        ("dial nats://svc:pw-3@n1:4222, then http://x@y", "dial nats://[redacted]@n1:4222, then http://[redacted]@y"),
        ("https://gw.example/cb?email=a@b", "https://gw.example/cb?email=a@b"),  # no userinfo: untouched
        ("ops@example.com", "ops@example.com"),
    ],
)
def test_redact_url_removes_userinfo_only(text, shown):
    assert logs.redact_url(text) == shown


def test_a_url_with_credentials_is_redacted_in_any_field(capsys):
    logs.configure(log_format="json", level="info")
    capsys.readouterr()
    structlog.get_logger("t").info("dialing", target="https://svc:pw-field-4@h.example/x", nested={"u": ["ws://a:pw-5@h"]})
    err = capsys.readouterr().err
    assert "pw-field-4" not in err and "pw-5" not in err
    assert "https://[redacted]@h.example/x" in err


def test_the_traceback_errors_unexpected_logs_is_redacted(capsys):
    logs.configure(log_format="json", level="info")
    capsys.readouterr()
    try:
        raise ConnectionError("cannot reach https://svc:pw-traceback-6@upstream.example/v1")
    except ConnectionError as exc:
        status = errors.unexpected(exc)
    err = capsys.readouterr().err
    assert "Traceback" in err and "ConnectionError" in err  # the traceback is still there...
    assert "pw-traceback-6" not in err  # ...without the password
    assert "https://[redacted]@upstream.example/v1" in err
    assert "pw-traceback-6" not in status.details
