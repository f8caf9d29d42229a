"""WorkerService through a real gRPC channel, over real HTTP to the emulator."""

from __future__ import annotations

import json

import grpc
import pytest

from taskrouter.gateway.v1 import (
    activity_service_pb2 as acts,
    activity_service_pb2_grpc,
    worker_service_pb2 as w,
    worker_service_pb2_grpc,
)
from taskrouter_gateway.errors import error_info_from


@pytest.fixture
def workers(channel) -> worker_service_pb2_grpc.WorkerServiceStub:
    return worker_service_pb2_grpc.WorkerServiceStub(channel)


@pytest.fixture
def activities(channel) -> activity_service_pb2_grpc.ActivityServiceStub:
    return activity_service_pb2_grpc.ActivityServiceStub(channel)


@pytest.fixture
def ws(emulator) -> str:
    return emulator.config.default_workspace_sid


async def _activity(activities, ws: str, name: str):
    page = await activities.ListActivities(acts.ListActivitiesRequest(workspace_sid=ws, friendly_name=name))
    assert len(page.activities) == 1, page
    return page.activities[0]


async def _list_all(workers, request: w.ListWorkersRequest) -> list:
    found, token = [], ""
    while True:
        request.page_token = token
        page = await workers.ListWorkers(request)
        found.extend(page.workers)
        token = page.next_page_token
        if not token:
            return found


async def test_create_get_round_trips_attributes_exactly(workers, ws):
    raw = '{"level": 3, "skills": ["sales", {"lang": ["en", "es"]}], "ratio": 0.5, "nested": {"n": [1, [2]]}}'
    created = await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="Alice", attributes=raw))
    assert created.sid.startswith("WK") and created.etag
    fetched = await workers.GetWorker(w.GetWorkerRequest(workspace_sid=ws, sid=created.sid))
    # The raw string is authoritative: integers stay integers and nesting is intact.
    assert json.loads(fetched.attributes) == json.loads(raw)
    assert isinstance(json.loads(fetched.attributes)["level"], int)
    assert fetched.attributes_struct["skills"][1]["lang"][1] == "es"
    assert fetched.friendly_name == "Alice"
    assert fetched.activity_name == "Offline" and not fetched.available
    assert fetched.date_created.seconds > 0 and fetched.date_status_changed.seconds > 0
    assert fetched.url.endswith(f"/Workers/{created.sid}")
    assert "activity" in fetched.links
    assert fetched.etag == created.etag


async def test_list_leaves_attributes_empty_as_twilio_does(workers, ws):
    await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="Bo", attributes='{"a": 1}'))
    page = await workers.ListWorkers(w.ListWorkersRequest(workspace_sid=ws))
    assert [x.friendly_name for x in page.workers] == ["Bo"]
    assert page.workers[0].attributes == "" and page.workers[0].etag == ""


async def test_every_list_filter(workers, activities, ws):
    available = await _activity(activities, ws, "Available")
    a = await workers.CreateWorker(
        w.CreateWorkerRequest(workspace_sid=ws, friendly_name="Ann", attributes='{"skills": ["sales"], "tier": 2}',
                              activity_sid=available.sid)
    )
    b = await workers.CreateWorker(
        w.CreateWorkerRequest(workspace_sid=ws, friendly_name="Ben", attributes='{"skills": ["support"], "tier": 1}')
    )

    async def sids(**filters) -> set[str]:
        return {x.sid for x in await _list_all(workers, w.ListWorkersRequest(workspace_sid=ws, **filters))}

    assert await sids() == {a.sid, b.sid}
    assert await sids(activity_name="Available") == {a.sid}
    assert await sids(activity_sid=available.sid) == {a.sid}
    assert await sids(available=True) == {a.sid}
    assert await sids(available=False) == {b.sid}
    assert await sids(friendly_name="Ben") == {b.sid}
    assert await sids(target_workers_expression="skills HAS 'sales'") == {a.sid}
    assert await sids(target_workers_expression="tier >= 1 AND friendly_name == 'Ben'") == {b.sid}
    ordered = await _list_all(workers, w.ListWorkersRequest(workspace_sid=ws, ordering="DateStatusChanged:desc"))
    assert {x.sid for x in ordered} == {a.sid, b.sid}


async def test_task_queue_filters_answer_as_for_a_queue_that_does_not_exist(workers, ws):
    await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="Cy"))
    by_name = await workers.ListWorkers(w.ListWorkersRequest(workspace_sid=ws, task_queue_name="NoSuchQueue"))
    assert list(by_name.workers) == []
    try:
        by_sid = await workers.ListWorkers(w.ListWorkersRequest(workspace_sid=ws, task_queue_sid="WQ" + "a" * 32))
    except grpc.aio.AioRpcError as err:
        assert err.code() == grpc.StatusCode.NOT_FOUND
    else:
        assert list(by_sid.workers) == []


async def test_bad_expression_is_invalid_argument_from_upstream(workers, ws):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await workers.ListWorkers(w.ListWorkersRequest(workspace_sid=ws, target_workers_expression="skills HAS ("))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "position" in caught.value.details()
    info, _ = error_info_from(caught.value)
    assert info.metadata["http_status"] == "400"


async def test_paging_across_several_pages(workers, ws):
    made = set()
    for i in range(7):
        made.add((await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name=f"P{i}"))).sid)
    first = await workers.ListWorkers(w.ListWorkersRequest(workspace_sid=ws, page_size=3))
    assert len(first.workers) == 3 and first.next_page_token
    pages = [first]
    while pages[-1].next_page_token:
        pages.append(
            await workers.ListWorkers(
                w.ListWorkersRequest(workspace_sid=ws, page_size=3, page_token=pages[-1].next_page_token)
            )
        )
    assert [len(p.workers) for p in pages] == [3, 3, 1]
    seen = [x.sid for p in pages for x in p.workers]
    assert len(seen) == len(set(seen)) and set(seen) == made


async def test_page_token_for_another_list_is_refused(workers, activities, ws):
    for i in range(3):
        await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name=f"T{i}"))
    page = await workers.ListWorkers(w.ListWorkersRequest(workspace_sid=ws, page_size=1))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await activities.ListActivities(acts.ListActivitiesRequest(workspace_sid=ws, page_token=page.next_page_token))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, bad = error_info_from(caught.value)
    assert [v.field for v in bad.field_violations] == ["page_token"]


async def test_update_with_etag_and_date_status_changed(workers, activities, ws):
    available = await _activity(activities, ws, "Available")
    created = await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="Dee"))
    renamed = await workers.UpdateWorker(
        w.UpdateWorkerRequest(workspace_sid=ws, sid=created.sid, friendly_name="Dee2", etag=created.etag)
    )
    assert renamed.friendly_name == "Dee2" and renamed.etag != created.etag
    assert renamed.date_status_changed == created.date_status_changed
    moved = await workers.UpdateWorker(
        w.UpdateWorkerRequest(workspace_sid=ws, sid=created.sid, activity_sid=available.sid,
                              reject_pending_reservations=False)
    )
    assert moved.available and moved.activity_name == "Available"


async def test_mismatched_etag_is_aborted_and_changes_nothing(workers, ws):
    created = await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="Eve"))
    await workers.UpdateWorker(w.UpdateWorkerRequest(workspace_sid=ws, sid=created.sid, attributes='{"v": 2}'))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await workers.UpdateWorker(
            w.UpdateWorkerRequest(workspace_sid=ws, sid=created.sid, attributes='{"v": 3}', etag=created.etag)
        )
    assert caught.value.code() == grpc.StatusCode.ABORTED
    info, _ = error_info_from(caught.value)
    assert info.metadata["http_status"] == "412" and info.metadata["twilio_code"]
    current = await workers.GetWorker(w.GetWorkerRequest(workspace_sid=ws, sid=created.sid))
    assert json.loads(current.attributes) == {"v": 2}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await workers.DeleteWorker(w.DeleteWorkerRequest(workspace_sid=ws, sid=created.sid, etag=created.etag))
    assert caught.value.code() == grpc.StatusCode.ABORTED
    await workers.DeleteWorker(w.DeleteWorkerRequest(workspace_sid=ws, sid=created.sid, etag=current.etag))


async def test_unknown_sid_is_not_found_with_error_info(workers, ws):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await workers.GetWorker(w.GetWorkerRequest(workspace_sid=ws, sid="WK" + "f" * 32))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    info, _ = error_info_from(caught.value)
    assert info.reason == "TWILIO_NOT_FOUND"
    assert info.metadata["twilio_code"] == "20404"
    assert info.metadata["more_info"].startswith("https://")


async def test_delete_then_get_is_not_found(workers, ws):
    created = await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="Gus"))
    await workers.DeleteWorker(w.DeleteWorkerRequest(workspace_sid=ws, sid=created.sid))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await workers.GetWorker(w.GetWorkerRequest(workspace_sid=ws, sid=created.sid))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_duplicate_name_from_upstream_is_invalid_argument(workers, ws):
    await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="Hal"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="hal"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info, _ = error_info_from(caught.value)
    assert info.metadata["http_status"] == "400"


BAD_REQUESTS = [
    ("GetWorker", w.GetWorkerRequest(workspace_sid="WSnope", sid="WK" + "a" * 32), ["workspace_sid"]),
    ("GetWorker", w.GetWorkerRequest(workspace_sid="WS" + "a" * 32, sid="WA" + "a" * 32), ["sid"]),
    ("GetWorker", w.GetWorkerRequest(), ["workspace_sid", "sid"]),
    ("ListWorkers", w.ListWorkersRequest(workspace_sid="WS" + "a" * 32, page_size=1001), ["page_size"]),
    ("ListWorkers", w.ListWorkersRequest(workspace_sid="WS" + "a" * 32, page_size=-1), ["page_size"]),
    ("ListWorkers", w.ListWorkersRequest(workspace_sid="WS" + "a" * 32, activity_sid="WK" + "a" * 32), ["activity_sid"]),
    ("ListWorkers", w.ListWorkersRequest(workspace_sid="WS" + "a" * 32, task_queue_sid="nope"), ["task_queue_sid"]),
    ("ListWorkers", w.ListWorkersRequest(workspace_sid="WS" + "a" * 32, page_token="garbage"), ["page_token"]),
    ("CreateWorker", w.CreateWorkerRequest(workspace_sid="WS" + "a" * 32), ["friendly_name"]),
    ("CreateWorker", w.CreateWorkerRequest(workspace_sid="WS" + "a" * 32, friendly_name="x" * 65), ["friendly_name"]),
    ("CreateWorker", w.CreateWorkerRequest(workspace_sid="WS" + "a" * 32, friendly_name="ok", attributes="[1]"), ["attributes"]),
    ("CreateWorker", w.CreateWorkerRequest(workspace_sid="WS" + "a" * 32, friendly_name="ok", attributes="{bad"), ["attributes"]),
    ("UpdateWorker", w.UpdateWorkerRequest(workspace_sid="WS" + "a" * 32, sid="WK" + "a" * 32, attributes="3"), ["attributes"]),
    ("UpdateWorker", w.UpdateWorkerRequest(workspace_sid="WS" + "a" * 32, sid="WK" + "a" * 32, activity_sid=""), ["activity_sid"]),
    ("DeleteWorker", w.DeleteWorkerRequest(workspace_sid="WS" + "a" * 32, sid="bad"), ["sid"]),
]


@pytest.mark.parametrize("method,request_message,fields", BAD_REQUESTS)
async def test_bad_input_is_invalid_argument_without_upstream_calls(workers, emulator_admin, method, request_message, fields):
    before = await emulator_admin.requests_seen()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await getattr(workers, method)(request_message)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info, bad = error_info_from(caught.value)
    assert info.reason == "INVALID_ARGUMENT"
    assert [v.field for v in bad.field_violations] == fields
    for field in fields:
        assert field in caught.value.details()
    assert await emulator_admin.requests_seen() == before
