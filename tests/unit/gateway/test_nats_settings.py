"""--event-backend nats settings: flags and environment variables, and what is refused before connecting."""

from __future__ import annotations

import pytest

from taskrouter_gateway import cli, config
from taskrouter_gateway.eventlog.backends import build_event_log
from taskrouter_gateway.eventlog.jetstream.log import JetStreamEventLog
from taskrouter_gateway.eventlog.sqlite.log import SqliteEventLog


def test_sqlite_stays_the_default_backend(tmp_path):
    settings = config.load({}, event_log_path=str(tmp_path / "e.db"))
    assert settings.event_backend == "sqlite"
    assert isinstance(build_event_log(settings.event_log), SqliteEventLog)


def test_nats_settings_from_the_environment_reach_the_log():
    settings = config.load({
        "TASKROUTER_GATEWAY_EVENT_BACKEND": "nats",
        "TASKROUTER_GATEWAY_NATS_URL": "nats://a:4222, nats://b:4222,nats://c:4222",
        "TASKROUTER_GATEWAY_NATS_USER": "gw",
        "TASKROUTER_GATEWAY_NATS_PASSWORD": "s3cret",
        "TASKROUTER_GATEWAY_NATS_STREAM": "EVENTS_PROD",
        "TASKROUTER_GATEWAY_NATS_SUBJECT_PREFIX": "prod.tr",
        "TASKROUTER_GATEWAY_NATS_REPLICAS": "3",
        "TASKROUTER_GATEWAY_EVENT_LOG_MAX_MB": "64",
    })
    assert "s3cret" not in repr(settings)
    log = build_event_log(settings.event_log)
    assert isinstance(log, JetStreamEventLog)
    assert log._nats.servers == ("nats://a:4222", "nats://b:4222", "nats://c:4222")
    assert (log._nats.user, log._nats.password) == ("gw", "s3cret")
    stream = log._stream
    assert (stream.name, stream.prefix, stream.replicas, stream.max_bytes) == ("EVENTS_PROD", "prod.tr", 3, 64 << 20)


@pytest.mark.parametrize(
    "env,needle",
    [
        ({"TASKROUTER_GATEWAY_EVENT_BACKEND": "kafka"}, "event_backend must be sqlite or nats"),
        ({"TASKROUTER_GATEWAY_NATS_REPLICAS": "2"}, "nats_replicas must be 1 or 3"),
        ({"TASKROUTER_GATEWAY_EVENT_BACKEND": "nats", "TASKROUTER_GATEWAY_NATS_URL": " , "}, "nats_url"),
        ({"TASKROUTER_GATEWAY_EVENT_BACKEND": "nats", "TASKROUTER_GATEWAY_NATS_URL": "http://x:4222"}, "nats://"),
        ({"TASKROUTER_GATEWAY_EVENT_BACKEND": "nats", "TASKROUTER_GATEWAY_NATS_STREAM": "a.b"}, "stream name"),
        ({"TASKROUTER_GATEWAY_EVENT_BACKEND": "nats", "TASKROUTER_GATEWAY_NATS_SUBJECT_PREFIX": "a.>"}, "prefix"),
        ({"TASKROUTER_GATEWAY_EVENT_BACKEND": "nats", "TASKROUTER_GATEWAY_NATS_TLS_CERT": "/nope.pem"},
         "nats_tls_key"),
        ({"TASKROUTER_GATEWAY_EVENT_BACKEND": "nats", "TASKROUTER_GATEWAY_NATS_CREDENTIALS": "/no/such.creds"},
         "TASKROUTER_GATEWAY_NATS_CREDENTIALS: no such file"),
        ({"TASKROUTER_GATEWAY_EVENT_BACKEND": "nats", "TASKROUTER_GATEWAY_NATS_PASSWORD": "p"}, "nats_user"),
    ],
)
def test_bad_nats_settings_are_refused_naming_the_setting(env, needle):
    with pytest.raises(config.ConfigError) as caught:
        config.load(env)
    assert needle in str(caught.value)


def test_help_lists_the_nats_flags_and_variables(capsys):
    with pytest.raises(SystemExit):
        cli.main(["serve", "--help"])
    out = capsys.readouterr().out
    for needle in ("--event-backend", "--nats-url", "--nats-credentials", "--nats-tls-ca", "--nats-replicas",
                   "TASKROUTER_GATEWAY_NATS_URL", "TASKROUTER_GATEWAY_NATS_PASSWORD", "TASKROUTER_GATEWAY_NATS_TOKEN"):
        assert needle in out
