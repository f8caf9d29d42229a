"""CallEventService over the 2010 API, the configure-callback command, and streams at shutdown."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import grpc
import pytest

from taskrouter.gateway.v1 import (
    call_event_service_pb2 as c,
    call_event_service_pb2_grpc,
    event_service_pb2 as e,
    event_service_pb2_grpc,
)
from taskrouter_gateway.errors import error_info_from


async def _record_call(emulator_http, emulator, n: int) -> str:
    events = [
        {
            "request": {"method": "POST", "url": f"https://example.com/voice/{i}",
                        "parameters": {"CallSid": "CA" + "0" * 32, "Digits": str(i)}},
            "response": {"response_code": 200, "request_duration": 40 + i, "content_type": "text/xml",
                         "response_body": "<Response/>", "date_created": "Tue, 11 Aug 2020 17:44:08 +0000"},
        }
        for i in range(n)
    ]
    async with emulator_http.post(f"{emulator.base_url}/admin/calls", json={"events": events}) as resp:
        assert resp.status == 201, await resp.text()
        return (await resp.json())["sid"]


async def test_list_call_events_pages_through_the_2010_api(channel, emulator_http, emulator):
    call_sid = await _record_call(emulator_http, emulator, 5)
    stub = call_event_service_pb2_grpc.CallEventServiceStub(channel)
    seen, token = [], ""
    while True:
        page = await stub.ListCallEvents(c.ListCallEventsRequest(call_sid=call_sid, page_size=2, page_token=token))
        assert len(page.events) <= 2
        seen.extend(page.events)
        token = page.next_page_token
        if not token:
            break
    assert [ev.request.url for ev in seen] == [f"https://example.com/voice/{i}" for i in range(5)]
    first = seen[0]
    assert first.request.method == "POST" and first.request.parameters["digits"] == "0"
    assert first.response.response_code == 200 and first.response.request_duration == 40
    assert first.response.content_type == "text/xml" and first.response.date_created.seconds == 1597167848


@pytest.mark.parametrize(
    "request_message,field",
    [
        (c.ListCallEventsRequest(), "call_sid"),
        (c.ListCallEventsRequest(call_sid="CA" + "0" * 32, account_sid="WS" + "0" * 32), "account_sid"),
        (c.ListCallEventsRequest(call_sid="CA" + "0" * 32, page_size=1001), "page_size"),
    ],
)
async def test_list_call_events_bad_input(channel, emulator_admin, request_message, field):
    stub = call_event_service_pb2_grpc.CallEventServiceStub(channel)
    before = await emulator_admin.requests_seen()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ListCallEvents(request_message)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in error_info_from(caught.value)[1].field_violations] == [field]
    assert await emulator_admin.requests_seen() == before


async def test_unknown_call_is_not_found(channel):
    stub = call_event_service_pb2_grpc.CallEventServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ListCallEvents(c.ListCallEventsRequest(call_sid="CA" + "f" * 32))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_configure_callback_command(gateway, emulator, emulator_http):
    ws = emulator.config.default_workspace_sid
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "taskrouter_gateway.cli", "configure-callback", "--target", gateway.grpc_target,
         "--workspace", ws, "--type", "worker.created", "--type", "worker.deleted"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert gateway.webhook_url in result.stdout
    async with emulator_http.get(f"{emulator.base_url}/v1/Workspaces/{ws}") as resp:
        workspace = await resp.json()
    assert workspace["event_callback_url"] == gateway.webhook_url
    assert workspace["events_filter"] == "worker.created,worker.deleted"
    bad = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "taskrouter_gateway.cli", "configure-callback", "--target", gateway.grpc_target,
         "--workspace", "nope"],
        capture_output=True, text=True, timeout=60,
    )
    assert bad.returncode == 1 and "INVALID_ARGUMENT" in bad.stderr and "workspace_sid" in bad.stderr


async def test_shutdown_ends_streams_with_unavailable_and_a_cursor(make_gateway, emulator):
    gw = await make_gateway()
    async with grpc.aio.insecure_channel(gw.grpc_target) as ch:
        stream = event_service_pb2_grpc.EventServiceStub(ch).StreamEvents(
            e.StreamEventsRequest(workspace_sid=emulator.config.default_workspace_sid)
        )
        await asyncio.wait_for(gw.fanout.wait_until(lambda counters: counters.subscribers >= 1), 10)
        await gw.stop(grace=5)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in stream:
                pass
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    info, _ = error_info_from(caught.value)
    assert "resume_cursor" in info.metadata
