"""`taskrouter-gateway serve` refuses unusable security and tracing settings with a one-line reason, exit 2."""

from __future__ import annotations

import pytest
from taskrouter_gateway.cli import main


@pytest.fixture
def base_args(tmp_path) -> list[str]:
    return ["serve", "--grpc-port", "0", "--webhook-port", "0", "--event-log", str(tmp_path / "events.sqlite3")]


def test_missing_certificate_files(base_args, tmp_path, capsys):
    code = main([*base_args, "--tls-cert", str(tmp_path / "no.crt"), "--tls-key", str(tmp_path / "no.key")])
    assert code == 2
    assert "configuration error: TLS files" in capsys.readouterr().err


def test_an_auth_file_with_an_unknown_scope(base_args, tmp_path, capsys):
    auth = tmp_path / "callers.toml"
    auth.write_text('[[caller]]\nname = "x"\ncertificate = "x"\nscopes = ["root"]\n')
    assert main([*base_args, "--auth-file", str(auth)]) == 2
    assert "unknown scope(s) ['root']" in capsys.readouterr().err


def test_an_unknown_trace_exporter(base_args, monkeypatch, capsys):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    assert main(base_args) == 2
    assert "OTEL_TRACES_EXPORTER" in capsys.readouterr().err
