"""The exact REST request each RPC builds, checked against the parameter names in Twilio's OpenAPI spec."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from taskrouter.gateway.v1 import (
    activity_service_pb2 as a,
    worker_service_pb2 as w,
    workspace_pb2,
    workspace_service_pb2 as s,
)
from taskrouter_gateway.translate import activities, workers, workspaces
from taskrouter_gateway.upstream.forms import encode_params, urlencode_pairs

SPEC = json.loads(
    (Path(__file__).resolve().parents[3] / "tests/fixtures/openapi/twilio_taskrouter_v1.json").read_text()
)
WS = "WS" + "1" * 32
WK = "WK" + "2" * 32
WA = "WA" + "3" * 32
WQ = "WQ" + "4" * 32


def _spec_operation(path: str, method: str) -> dict:
    """The spec operation whose templated path matches a concrete path."""
    for template, item in SPEC["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", r"[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in item:
            return item[method.lower()]
    raise AssertionError(f"no spec operation for {method} {path}")


def _assert_names_in_spec(call) -> None:
    op = _spec_operation(call.path, call.method)
    params = op.get("parameters", [])
    query_names = {p["name"] for p in params if p["in"] == "query"}
    header_names = {p["name"] for p in params if p["in"] == "header"}
    form_names = set(
        op.get("requestBody", {})
        .get("content", {})
        .get("application/x-www-form-urlencoded", {})
        .get("schema", {})
        .get("properties", {})
    )
    assert set(call.query) <= query_names, set(call.query) - query_names
    assert set(call.form) <= form_names, set(call.form) - form_names
    assert set(call.headers) <= header_names, set(call.headers) - header_names


CASES = [
    (workers.get_call(w.GetWorkerRequest(workspace_sid=WS, sid=WK)), "GET", f"/v1/Workspaces/{WS}/Workers/{WK}", {}, {}, {}),
    (
        workers.list_call_for(
            w.ListWorkersRequest(
                workspace_sid=WS, page_size=20, activity_name="Idle", activity_sid=WA, available=True,
                friendly_name="Al", target_workers_expression="a == 1", task_queue_name="Q", task_queue_sid=WQ,
                ordering="DateStatusChanged:desc",
            )
        ),
        "GET",
        f"/v1/Workspaces/{WS}/Workers",
        {
            "ActivityName": "Idle", "ActivitySid": WA, "Available": True, "FriendlyName": "Al",
            "TargetWorkersExpression": "a == 1", "TaskQueueName": "Q", "TaskQueueSid": WQ,
            "Ordering": "DateStatusChanged:desc", "PageSize": 20,
        },
        {},
        {},
    ),
    (workers.list_call_for(w.ListWorkersRequest(workspace_sid=WS)), "GET", f"/v1/Workspaces/{WS}/Workers",
     {"PageSize": 50}, {}, {}),
    (workers.list_call_for(w.ListWorkersRequest(workspace_sid=WS, available=False)), "GET",
     f"/v1/Workspaces/{WS}/Workers", {"Available": False, "PageSize": 50}, {}, {}),
    (
        workers.create_call(w.CreateWorkerRequest(workspace_sid=WS, friendly_name="Al", activity_sid=WA, attributes='{"a":1}')),
        "POST", f"/v1/Workspaces/{WS}/Workers", {}, {"FriendlyName": "Al", "ActivitySid": WA, "Attributes": '{"a":1}'}, {},
    ),
    (
        workers.update_call(
            w.UpdateWorkerRequest(workspace_sid=WS, sid=WK, activity_sid=WA, attributes="{}", friendly_name="B",
                                  reject_pending_reservations=True, etag="7")
        ),
        "POST", f"/v1/Workspaces/{WS}/Workers/{WK}", {},
        {"ActivitySid": WA, "Attributes": "{}", "FriendlyName": "B", "RejectPendingReservations": True},
        {"If-Match": "7"},
    ),
    (workers.update_call(w.UpdateWorkerRequest(workspace_sid=WS, sid=WK, friendly_name="C")), "POST",
     f"/v1/Workspaces/{WS}/Workers/{WK}", {}, {"FriendlyName": "C"}, {}),
    (workers.delete_call(w.DeleteWorkerRequest(workspace_sid=WS, sid=WK, etag="3")), "DELETE",
     f"/v1/Workspaces/{WS}/Workers/{WK}", {}, {}, {"If-Match": "3"}),
    (activities.get_call(a.GetActivityRequest(workspace_sid=WS, sid=WA)), "GET", f"/v1/Workspaces/{WS}/Activities/{WA}", {}, {}, {}),
    (activities.list_call_for(a.ListActivitiesRequest(workspace_sid=WS, friendly_name="Idle", available=True, page_size=5)),
     "GET", f"/v1/Workspaces/{WS}/Activities", {"FriendlyName": "Idle", "Available": True, "PageSize": 5}, {}, {}),
    (activities.create_call(a.CreateActivityRequest(workspace_sid=WS, friendly_name="Idle", available=True)),
     "POST", f"/v1/Workspaces/{WS}/Activities", {}, {"FriendlyName": "Idle", "Available": True}, {}),
    (activities.create_call(a.CreateActivityRequest(workspace_sid=WS, friendly_name="Idle")),
     "POST", f"/v1/Workspaces/{WS}/Activities", {}, {"FriendlyName": "Idle"}, {}),
    (activities.update_call(a.UpdateActivityRequest(workspace_sid=WS, sid=WA, friendly_name="Busy")),
     "POST", f"/v1/Workspaces/{WS}/Activities/{WA}", {}, {"FriendlyName": "Busy"}, {}),
    (activities.delete_call(a.DeleteActivityRequest(workspace_sid=WS, sid=WA)), "DELETE", f"/v1/Workspaces/{WS}/Activities/{WA}", {}, {}, {}),
    (workspaces.get_call(s.GetWorkspaceRequest(workspace_sid=WS)), "GET", f"/v1/Workspaces/{WS}", {}, {}, {}),
    (workspaces.list_call_for(s.ListWorkspacesRequest(friendly_name="Main", page_size=10)), "GET", "/v1/Workspaces",
     {"FriendlyName": "Main", "PageSize": 10}, {}, {}),
    (
        workspaces.create_call(
            s.CreateWorkspaceRequest(friendly_name="Main", event_callback_url="https://x.test/cb", events_filter="worker.created",
                                     multi_task_enabled=False, template="FIFO",
                                     prioritize_queue_order=workspace_pb2.Workspace.QUEUE_ORDER_FIFO)
        ),
        "POST", "/v1/Workspaces", {},
        {"FriendlyName": "Main", "EventCallbackUrl": "https://x.test/cb", "EventsFilter": "worker.created",
         "MultiTaskEnabled": False, "Template": "FIFO", "PrioritizeQueueOrder": "FIFO"},
        {},
    ),
    (
        workspaces.update_call(
            s.UpdateWorkspaceRequest(workspace_sid=WS, default_activity_sid=WA, event_callback_url="", events_filter="a",
                                     friendly_name="M2", multi_task_enabled=True, timeout_activity_sid=WA,
                                     prioritize_queue_order=workspace_pb2.Workspace.QUEUE_ORDER_LIFO)
        ),
        "POST", f"/v1/Workspaces/{WS}", {},
        {"DefaultActivitySid": WA, "EventCallbackUrl": "", "EventsFilter": "a", "FriendlyName": "M2",
         "MultiTaskEnabled": True, "TimeoutActivitySid": WA, "PrioritizeQueueOrder": "LIFO"},
        {},
    ),
    (workspaces.delete_call(s.DeleteWorkspaceRequest(workspace_sid=WS)), "DELETE", f"/v1/Workspaces/{WS}", {}, {}, {}),
]


@pytest.mark.parametrize("call,method,path,query,form,headers", CASES)
def test_exact_request(call, method, path, query, form, headers):
    assert (call.method, call.path, call.query, call.form, call.headers) == (method, path, query, form, headers)
    _assert_names_in_spec(call)


def test_form_body_is_encoded_as_twilio_expects():
    call = workers.update_call(
        w.UpdateWorkerRequest(workspace_sid=WS, sid=WK, attributes='{"a": [1, {"b": 2}]}', reject_pending_reservations=True)
    )
    body = urlencode_pairs(encode_params(call.form))
    assert body == "Attributes=%7B%22a%22%3A+%5B1%2C+%7B%22b%22%3A+2%7D%5D%7D&RejectPendingReservations=true"


def test_boolean_filters_are_lowercase_in_the_query():
    call = activities.list_call_for(a.ListActivitiesRequest(workspace_sid=WS, available=False))
    assert urlencode_pairs(encode_params(call.query)) == "Available=false&PageSize=50"


def test_page_token_replaces_the_filters():
    from taskrouter_gateway.upstream.paging import encode_page_token

    token = encode_page_token(f"https://taskrouter.twilio.com/v1/Workspaces/{WS}/Workers?PageSize=2&PageToken=PT1&Available=true")
    call = workers.list_call_for(w.ListWorkersRequest(workspace_sid=WS, page_token=token, friendly_name="ignored"))
    assert (call.method, call.path, call.query) == ("GET", f"/v1/Workspaces/{WS}/Workers?PageSize=2&PageToken=PT1&Available=true", {})


def test_event_callback_wiring_request():
    call = workspaces.event_callback_call(WS, "https://gw.example.com/cb", ["worker.created", "worker.deleted"])
    assert (call.method, call.path, call.form) == (
        "POST", f"/v1/Workspaces/{WS}",
        {"EventCallbackUrl": "https://gw.example.com/cb", "EventsFilter": "worker.created,worker.deleted"},
    )
    _assert_names_in_spec(call)


def test_event_callback_wiring_can_leave_the_filter_alone():
    call = workspaces.event_callback_call(WS, "https://gw.example.com/cb", None)
    assert call.form == {"EventCallbackUrl": "https://gw.example.com/cb"}
    assert workspaces.event_callback_call(WS, "https://gw.example.com/cb", []).form["EventsFilter"] == ""
