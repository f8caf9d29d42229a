"""Start-up and shutdown: a failed start releases what it took, the webhook honours the shutdown grace,
and ConfigureEventCallback refuses to point TaskRouter at a webhook that is off."""

from __future__ import annotations

import asyncio
import socket

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from taskrouter.gateway.v1 import event_service_pb2 as events, event_service_pb2_grpc
from taskrouter_gateway.app import Gateway, StartupError

from conftest import settings_for


async def _until(predicate, what: str) -> None:
    for _ in range(2000):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


async def test_a_failed_start_releases_the_event_log_and_the_upstream_session(gateway, emulator, tmp_path):
    log_path = tmp_path / "second.sqlite3"
    # The webhook port is taken by the running gateway: the start fails after the log was opened.
    second = Gateway(settings_for(emulator, log_path, webhook_port=gateway.webhook_port))
    with pytest.raises(StartupError, match=f"{gateway.webhook_port}.*event webhook"):
        await second.start()
    assert second.upstream is None and second.event_log is None and second.server is None
    # The log's lock was released: another gateway opens it at once.
    third = Gateway(settings_for(emulator, log_path))
    await third.start()
    await third.stop(0)


async def test_an_event_log_open_elsewhere_is_a_startup_error(gateway, emulator):
    second = Gateway(settings_for(emulator, gateway.settings.event_log_path))
    with pytest.raises(StartupError, match="already open|locked|another"):
        await second.start()
    assert second.upstream is None


async def test_the_webhook_gets_the_shutdown_grace_not_60_seconds(make_gateway):
    gw = await make_gateway(shutdown_grace_seconds=0.2)
    runner = gw.webhook_server.runner
    # A callback whose body never finishes arriving keeps its handler in flight.
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.webhook_port)
    writer.write(b"POST /twilio/taskrouter/events HTTP/1.1\r\nHost: x\r\nX-Twilio-Signature: c2ln\r\n"
                 b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nEventType=")
    await writer.drain()
    await _until(lambda: any(c._current_request is not None for c in runner.server.connections), "request in flight")
    # Bounded only to turn a hang into a failure: aiohttp's default would wait 60 s here.
    await asyncio.wait_for(gw.stop(), timeout=30)
    writer.close()


async def test_configure_callback_without_a_url_refuses_when_the_webhook_is_off(make_gateway, emulator):
    gw = await make_gateway(auth_token=None, api_key="SK" + "0" * 32, api_secret="secret")
    assert gw.webhook is None
    async with grpc.aio.insecure_channel(gw.grpc_target) as channel:
        stub = event_service_pb2_grpc.EventServiceStub(channel)
        request = events.ConfigureEventCallbackRequest(workspace_sid=emulator.config.default_workspace_sid)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.ConfigureEventCallback(request, timeout=10)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    bad_request = error_details_pb2.BadRequest()
    assert any(d.Unpack(bad_request) for d in rpc_status.from_call(raised.value).details)
    assert [v.field for v in bad_request.field_violations] == ["callback_url"]


def test_a_taken_port_is_one_line_and_exit_code_2(tmp_path):
    import os
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "TASKROUTER_GATEWAY_"))}
        result = subprocess.run(
            [sys.executable, "-m", "taskrouter_gateway.cli", "serve", "--grpc-port", str(port), "--webhook-port", "0",
             "--event-log", str(tmp_path / "events.sqlite3"),
             "--log-level", "error"],
            capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
        )
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert errors == [f"taskrouter-gateway: cannot start: cannot listen on 127.0.0.1:{port} for gRPC: "
                      "Address already in use"], result.stderr


def test_an_event_log_already_open_is_one_line_and_exit_code_2(tmp_path):
    import fcntl
    import os
    import subprocess
    import sys

    log_path = tmp_path / "events.sqlite3"
    fd = os.open(f"{log_path}.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running gateway holds it
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "TASKROUTER_GATEWAY_"))}
        result = subprocess.run(
            [sys.executable, "-m", "taskrouter_gateway.cli", "serve", "--grpc-port", "0", "--webhook-port", "0",
             "--event-log", str(log_path), "--log-level", "error"],
            capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
        )
    finally:
        os.close(fd)
    assert result.returncode == 2, result
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("taskrouter-gateway: cannot start: event log"), result.stderr
