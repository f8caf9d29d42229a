"""A bug in a handler ends the call in INTERNAL with an id, logged once with its traceback; never UNKNOWN."""

from __future__ import annotations

import grpc
import pytest
from structlog.testing import capture_logs

from taskrouter.gateway.v1 import activity_service_pb2 as activities, activity_service_pb2_grpc
from taskrouter.gateway.v1 import event_service_pb2 as events, event_service_pb2_grpc
from taskrouter_gateway.errors import error_info_from
from taskrouter_gateway.stream.filters import EventFilter
from taskrouter_gateway.translate import activities as activity_translate


def _boom(*_args, **_kwargs):
    raise RuntimeError("a bug with secret request data")


async def _expect_internal_with_logged_id(call) -> None:
    with capture_logs() as logs:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call()
    err = raised.value
    assert err.code() is grpc.StatusCode.INTERNAL
    assert "secret" not in err.details()
    info, _ = error_info_from(err)
    error_id = info.metadata["error_id"]
    assert error_id in err.details()
    logged = [entry for entry in logs if entry.get("error_id") == error_id]
    assert len(logged) == 1 and logged[0]["log_level"] == "error"
    assert isinstance(logged[0]["exc_info"], RuntimeError)


async def test_unary_bug_is_internal_with_an_id(channel, emulator, monkeypatch):
    stub = activity_service_pb2_grpc.ActivityServiceStub(channel)
    ws = emulator.config.default_workspace_sid
    listed = await stub.ListActivities(activities.ListActivitiesRequest(workspace_sid=ws), timeout=10)
    sid = listed.activities[0].sid
    monkeypatch.setattr(activity_translate, "activity_from_json", _boom)
    await _expect_internal_with_logged_id(
        lambda: stub.GetActivity(activities.GetActivityRequest(workspace_sid=ws, sid=sid), timeout=10)
    )


async def test_stream_bug_is_internal_with_an_id(channel, emulator, monkeypatch):
    monkeypatch.setattr(EventFilter, "from_request", classmethod(_boom))
    stub = event_service_pb2_grpc.EventServiceStub(channel)
    request = events.StreamEventsRequest(workspace_sid=emulator.config.default_workspace_sid)

    async def first_message():
        async for _ in stub.StreamEvents(request, timeout=10):
            break

    await _expect_internal_with_logged_id(first_message)
