"""A --webhook-public-url with user:password@ (the signature check accepts one) never reaches the log."""

from __future__ import annotations

import json

from taskrouter_gateway import logs


async def test_the_start_up_line_names_the_webhook_without_its_password(make_gateway, capsys):
    logs.configure(log_format="json", level="info")
    capsys.readouterr()
    gateway = await make_gateway(webhook_public_url="https://hook:pw-startup-7@gw.example/twilio/events")
    assert gateway.webhook_url == "https://hook:pw-startup-7@gw.example/twilio/events"  # still signed with it
    err = capsys.readouterr().err
    (started,) = [json.loads(line) for line in err.splitlines() if '"gateway started"' in line]
    assert started["webhook"] == "https://[redacted]@gw.example/twilio/events"
    assert "pw-startup-7" not in err
