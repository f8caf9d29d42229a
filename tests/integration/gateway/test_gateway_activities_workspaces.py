"""ActivityService and WorkspaceService through a real gRPC channel, over real HTTP to the emulator."""

from __future__ import annotations

import grpc
import pytest

from taskrouter.gateway.v1 import (
    activity_service_pb2 as a,
    activity_service_pb2_grpc,
    workspace_pb2,
    workspace_service_pb2 as s,
    workspace_service_pb2_grpc,
)
from taskrouter_gateway.errors import error_info_from


@pytest.fixture
def activities(channel):
    return activity_service_pb2_grpc.ActivityServiceStub(channel)


@pytest.fixture
def workspaces(channel):
    return workspace_service_pb2_grpc.WorkspaceServiceStub(channel)


@pytest.fixture
def ws(emulator) -> str:
    return emulator.config.default_workspace_sid


async def test_activity_crud_and_filters(activities, ws):
    made = await activities.CreateActivity(a.CreateActivityRequest(workspace_sid=ws, friendly_name="Lunch", available=False))
    assert made.sid.startswith("WA") and not made.available and made.workspace_sid == ws
    fetched = await activities.GetActivity(a.GetActivityRequest(workspace_sid=ws, sid=made.sid))
    assert fetched == made
    renamed = await activities.UpdateActivity(a.UpdateActivityRequest(workspace_sid=ws, sid=made.sid, friendly_name="Break"))
    assert renamed.friendly_name == "Break" and renamed.date_updated.ToNanoseconds() >= made.date_updated.ToNanoseconds()
    all_names = {x.friendly_name for x in (await activities.ListActivities(a.ListActivitiesRequest(workspace_sid=ws))).activities}
    assert all_names == {"Offline", "Unavailable", "Available", "Break"}
    available = await activities.ListActivities(a.ListActivitiesRequest(workspace_sid=ws, available=True))
    assert [x.friendly_name for x in available.activities] == ["Available"]
    unavailable = await activities.ListActivities(a.ListActivitiesRequest(workspace_sid=ws, available=False))
    assert {x.friendly_name for x in unavailable.activities} == {"Offline", "Unavailable", "Break"}
    by_name = await activities.ListActivities(a.ListActivitiesRequest(workspace_sid=ws, friendly_name="Break"))
    assert [x.sid for x in by_name.activities] == [made.sid]
    await activities.DeleteActivity(a.DeleteActivityRequest(workspace_sid=ws, sid=made.sid))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await activities.GetActivity(a.GetActivityRequest(workspace_sid=ws, sid=made.sid))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_activity_paging(activities, ws):
    for i in range(4):
        await activities.CreateActivity(a.CreateActivityRequest(workspace_sid=ws, friendly_name=f"A{i}"))
    token, seen = "", []
    while True:
        page = await activities.ListActivities(a.ListActivitiesRequest(workspace_sid=ws, page_size=2, page_token=token))
        assert len(page.activities) <= 2
        seen += [x.sid for x in page.activities]
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == 7 == len(set(seen))


async def test_deleting_the_default_activity_is_refused(activities, workspaces, ws):
    workspace = await workspaces.GetWorkspace(s.GetWorkspaceRequest(workspace_sid=ws))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await activities.DeleteActivity(a.DeleteActivityRequest(workspace_sid=ws, sid=workspace.default_activity_sid))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info, _ = error_info_from(caught.value)
    assert info.metadata["http_status"] == "400"
    still = await activities.GetActivity(a.GetActivityRequest(workspace_sid=ws, sid=workspace.default_activity_sid))
    assert still.friendly_name == "Offline"


@pytest.mark.parametrize(
    "method,request_message,fields",
    [
        ("CreateActivity", a.CreateActivityRequest(workspace_sid="WS" + "a" * 32), ["friendly_name"]),
        ("CreateActivity", a.CreateActivityRequest(workspace_sid="x", friendly_name="y" * 65), ["workspace_sid", "friendly_name"]),
        ("UpdateActivity", a.UpdateActivityRequest(workspace_sid="WS" + "a" * 32, sid="WK" + "a" * 32), ["sid"]),
        ("GetActivity", a.GetActivityRequest(workspace_sid="WS" + "a" * 32), ["sid"]),
        ("ListActivities", a.ListActivitiesRequest(workspace_sid="WS" + "a" * 32, page_size=5000), ["page_size"]),
    ],
)
async def test_activity_bad_input(activities, emulator_admin, method, request_message, fields):
    before = await emulator_admin.requests_seen()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await getattr(activities, method)(request_message)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, bad = error_info_from(caught.value)
    assert [v.field for v in bad.field_violations] == fields
    assert await emulator_admin.requests_seen() == before


async def test_workspace_crud(workspaces, activities):
    made = await workspaces.CreateWorkspace(
        s.CreateWorkspaceRequest(
            friendly_name="Support",
            event_callback_url="https://example.invalid/cb",
            events_filter="worker.created",
            multi_task_enabled=True,
            prioritize_queue_order=workspace_pb2.Workspace.QUEUE_ORDER_LIFO,
        )
    )
    assert made.sid.startswith("WS") and made.friendly_name == "Support"
    assert made.default_activity_name == "Offline" and made.timeout_activity_name == "Offline"
    assert made.events_filter == "worker.created" and made.multi_task_enabled
    assert made.prioritize_queue_order == workspace_pb2.Workspace.QUEUE_ORDER_LIFO
    acts = await activities.ListActivities(a.ListActivitiesRequest(workspace_sid=made.sid))
    assert {x.friendly_name for x in acts.activities} == {"Offline", "Unavailable", "Available"}
    available = next(x for x in acts.activities if x.friendly_name == "Available")
    updated = await workspaces.UpdateWorkspace(
        s.UpdateWorkspaceRequest(workspace_sid=made.sid, friendly_name="Support 2", default_activity_sid=available.sid,
                                 event_callback_url="")
    )
    assert updated.friendly_name == "Support 2" and updated.default_activity_sid == available.sid
    assert updated.event_callback_url == ""
    listed = await workspaces.ListWorkspaces(s.ListWorkspacesRequest(friendly_name="Support 2"))
    assert [x.sid for x in listed.workspaces] == [made.sid]
    await workspaces.DeleteWorkspace(s.DeleteWorkspaceRequest(workspace_sid=made.sid))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await workspaces.GetWorkspace(s.GetWorkspaceRequest(workspace_sid=made.sid))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    "method,request_message,fields",
    [
        ("CreateWorkspace", s.CreateWorkspaceRequest(), ["friendly_name"]),
        ("CreateWorkspace", s.CreateWorkspaceRequest(friendly_name="x", event_callback_url="ftp:/x"), ["event_callback_url"]),
        ("CreateWorkspace", s.CreateWorkspaceRequest(friendly_name="x", template="BOGUS"), ["template"]),
        ("GetWorkspace", s.GetWorkspaceRequest(workspace_sid="WK" + "a" * 32), ["workspace_sid"]),
        ("UpdateWorkspace", s.UpdateWorkspaceRequest(workspace_sid="WS" + "a" * 32, timeout_activity_sid="x"), ["timeout_activity_sid"]),
        ("ListWorkspaces", s.ListWorkspacesRequest(page_size=1001), ["page_size"]),
    ],
)
async def test_workspace_bad_input(workspaces, emulator_admin, method, request_message, fields):
    before = await emulator_admin.requests_seen()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await getattr(workspaces, method)(request_message)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, bad = error_info_from(caught.value)
    assert [v.field for v in bad.field_violations] == fields
    assert await emulator_admin.requests_seen() == before
