"""The embedded emulator calls only local URLs (and the gateway's own webhook) unless
--emulator-allow-remote-callbacks: any other callback URL is INVALID_ARGUMENT when set, naming the parameter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
import pytest
from taskrouter.gateway.v1 import event_service_pb2 as e
from taskrouter.gateway.v1 import event_service_pb2_grpc, workspace_service_pb2_grpc
from taskrouter.gateway.v1 import workspace_service_pb2 as ws_pb
from taskrouter_gateway.app import Gateway
from taskrouter_gateway.cli import build_parser
from taskrouter_gateway.config import Settings, load
from taskrouter_gateway.errors import error_info_from

REMOTE = "https://callbacks.example/hook"


@asynccontextmanager
async def embedded(tmp_path, **overrides) -> AsyncIterator[tuple[Gateway, grpc.aio.Channel]]:
    settings = Settings(
        grpc_port=0, webhook_port=0, data_dir=str(tmp_path), emulator_state_file="", backfill_on_start=False,
        shutdown_grace_seconds=0.5, **overrides,
    ).validate()
    assert settings.embedded
    gateway = Gateway(settings)
    await gateway.start()
    try:
        async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
            yield gateway, channel
    finally:
        await gateway.stop(0)


async def test_a_remote_callback_url_is_invalid_argument_naming_the_parameter(tmp_path):
    async with embedded(tmp_path) as (gateway, channel):
        workspaces = workspace_service_pb2_grpc.WorkspaceServiceStub(channel)
        calls = [
            workspaces.CreateWorkspace(ws_pb.CreateWorkspaceRequest(friendly_name="Far", event_callback_url=REMOTE)),
            workspaces.UpdateWorkspace(
                ws_pb.UpdateWorkspaceRequest(workspace_sid=gateway.default_workspace_sid, event_callback_url=REMOTE)
            ),
            event_service_pb2_grpc.EventServiceStub(channel).ConfigureEventCallback(
                e.ConfigureEventCallbackRequest(workspace_sid=gateway.default_workspace_sid, callback_url=REMOTE)
            ),
        ]
        for call in calls:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert caught.value.details().startswith("EventCallbackUrl must name a loopback host")
            assert error_info_from(caught.value)[0].reason == "TWILIO_BAD_REQUEST"
        local = await workspaces.CreateWorkspace(
            ws_pb.CreateWorkspaceRequest(friendly_name="Near", event_callback_url="http://127.0.0.1:9/hook")
        )
        assert local.event_callback_url == "http://127.0.0.1:9/hook"


async def test_the_flag_lets_the_embedded_emulator_call_other_hosts(tmp_path):
    async with embedded(tmp_path, emulator_allow_remote_callbacks=True) as (_, channel):
        made = await workspace_service_pb2_grpc.WorkspaceServiceStub(channel).CreateWorkspace(
            ws_pb.CreateWorkspaceRequest(friendly_name="Far", event_callback_url=REMOTE)
        )
        assert made.event_callback_url == REMOTE


async def test_the_gateway_s_own_public_webhook_url_is_allowed(tmp_path):
    """Behind a proxy the embedded emulator still calls the gateway's own public webhook URL."""
    public = "https://gateway.example/twilio/events"
    async with embedded(tmp_path, webhook_public_url=public) as (gateway, channel):
        got = await workspace_service_pb2_grpc.WorkspaceServiceStub(channel).GetWorkspace(
            ws_pb.GetWorkspaceRequest(workspace_sid=gateway.default_workspace_sid)
        )
        assert got.event_callback_url == public


def test_the_flag_and_its_environment_variable(capsys):
    assert load({}).emulator_allow_remote_callbacks is False
    assert load({"TASKROUTER_GATEWAY_EMULATOR_ALLOW_REMOTE_CALLBACKS": "true"}).emulator_allow_remote_callbacks
    args = build_parser().parse_args(["serve", "--emulator-allow-remote-callbacks"])
    assert args.emulator_allow_remote_callbacks is True
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--emulator-allow-remote-callbacks" in help_text
    assert "TASKROUTER_GATEWAY_EMULATOR_ALLOW_REMOTE_CALLBACKS" in help_text
