"""Settings from environment and flags, and the command line's help and errors."""

from __future__ import annotations

import pytest

from taskrouter_gateway import cli, config


def test_defaults_mean_embedded_mode():
    settings = config.load({})
    assert settings.embedded and settings.grpc_port == 50051 and settings.redact_pii


def test_environment_and_overrides():
    env = {
        "TWILIO_ACCOUNT_SID": "AC" + "a" * 32,
        "TWILIO_AUTH_TOKEN": "secret",
        "TASKROUTER_GATEWAY_GRPC_PORT": "6000",
        "TASKROUTER_GATEWAY_REDACT_PII": "false",
        "TASKROUTER_GATEWAY_SHUTDOWN_GRACE_SECONDS": "2.5",
    }
    settings = config.load(env, grpc_port=7000)
    assert not settings.embedded
    assert settings.grpc_port == 7000 and settings.redact_pii is False and settings.shutdown_grace_seconds == 2.5
    assert "secret" not in repr(settings)


def test_api_key_credentials():
    env = {"TWILIO_ACCOUNT_SID": "AC" + "a" * 32, "TWILIO_API_KEY": "SK" + "b" * 32, "TWILIO_API_SECRET": "s"}
    assert config.load(env).api_key == "SK" + "b" * 32


@pytest.mark.parametrize(
    "env,needle",
    [
        ({"TWILIO_ACCOUNT_SID": "nope", "TWILIO_AUTH_TOKEN": "t"}, "TWILIO_ACCOUNT_SID"),
        ({"TWILIO_ACCOUNT_SID": "AC" + "a" * 32}, "TWILIO_AUTH_TOKEN"),
        ({"TWILIO_ACCOUNT_SID": "AC" + "a" * 32, "TWILIO_API_KEY": "SK" + "b" * 32}, "TWILIO_API_SECRET"),
        ({"TWILIO_AUTH_TOKEN": "t"}, "TWILIO_ACCOUNT_SID"),
        ({"TASKROUTER_GATEWAY_GRPC_PORT": "http"}, "TASKROUTER_GATEWAY_GRPC_PORT"),
        ({"TASKROUTER_GATEWAY_GRPC_PORT": "70000"}, "grpc_port"),
        ({"TASKROUTER_GATEWAY_REDACT_PII": "maybe"}, "TASKROUTER_GATEWAY_REDACT_PII"),
        ({"TASKROUTER_GATEWAY_LOG_FORMAT": "xml"}, "log_format"),
    ],
)
def test_bad_settings_name_the_variable(env, needle):
    with pytest.raises(config.ConfigError) as caught:
        config.load(env)
    assert needle in str(caught.value)


def test_help_lists_flags_and_environment(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["serve", "--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    for needle in ("--grpc-port", "TASKROUTER_GATEWAY_GRPC_PORT", "TWILIO_ACCOUNT_SID", "--no-redact-pii"):
        assert needle in out


def test_config_error_exits_2_with_message(capsys, monkeypatch):
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "ACbad")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "t")
    assert cli.main(["serve"]) == 2
    assert "TWILIO_ACCOUNT_SID" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["frobnicate"])
    assert caught.value.code == 2
