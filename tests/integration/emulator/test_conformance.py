"""Every endpoint's responses validate against Twilio's OpenAPI response schemas.

The schemas are Twilio's own, read from tests/fixtures/openapi (twilio_taskrouter_v1.json and
twilio_api_v2010_call_events.json). OpenAPI 3.0
schemas become JSON Schema here: $refs are inlined and `nullable: true` admits null. Because Twilio's
schemas list no required properties, each resource body must also carry exactly the schema's properties.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from taskrouter_emulator import defaults

# Twilio's own OpenAPI files, copied unchanged into the repository (see tests/fixtures/openapi/README.md).
SPECS = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "openapi"
WS = defaults.DEFAULT_WORKSPACE_SID


@cache
def operations() -> dict[str, tuple[dict, dict]]:
    """operationId -> (operation, its spec)."""
    found = {}
    for name in ("twilio_taskrouter_v1.json", "twilio_api_v2010_call_events.json"):
        spec = json.loads((SPECS / name).read_text())
        for path_item in spec["paths"].values():
            for method in ("get", "post", "delete"):
                if method in path_item:
                    found[path_item[method]["operationId"]] = (path_item[method], spec)
    return found


def to_json_schema(node: Any, spec: dict) -> Any:
    if isinstance(node, list):
        return [to_json_schema(item, spec) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return to_json_schema(spec["components"]["schemas"][name], spec)
    schema = {key: to_json_schema(value, spec) for key, value in node.items() if key not in ("nullable", "x-twilio")}
    if node.get("nullable"):
        if "type" in schema:
            schema["type"] = [schema["type"], "null"]
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
    return schema


def response_schema(operation_id: str, status: int) -> dict | None:
    operation, spec = operations()[operation_id]
    response = operation["responses"][str(status)]
    content = response.get("content", {}).get("application/json")
    schema = to_json_schema(content["schema"], spec) if content else None
    if schema and operation_id == "ListCallEvent":
        # Docs and spec disagree: the spec types the 2010 paging fields as absolute URIs, but the Call Events page shows
        # them relative ("/2010-04-01/Accounts/…/Events.json?PageSize=50&Page=0"). We follow the docs.
        for name in ("first_page_uri", "next_page_uri", "previous_page_uri", "uri"):
            schema["properties"][name]["format"] = "uri-reference"
    return schema


def check(operation_id: str, status: int, actual_status: int, body: Any) -> None:
    assert actual_status == status, (operation_id, actual_status, body)
    schema = response_schema(operation_id, status)
    if schema is None:
        assert body in (b"", None), f"{operation_id} answers {status} with no body"
        return
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(body)
    for record_schema, records in _records(schema, body):
        for record in records:
            assert set(record) == set(record_schema["properties"]), (
                operation_id,
                set(record) ^ set(record_schema["properties"]),
            )


def _records(schema: dict, body: dict) -> list[tuple[dict, list[dict]]]:
    """The resource schemas in a response, with the records they describe (one, or a list's items)."""
    properties = schema.get("properties", {})
    if "meta" in properties or "events" in properties and "uri" in properties:
        key = next(k for k, v in properties.items() if v.get("type") == "array")
        paged = [(properties[key]["items"], body[key])]
        if "meta" in properties:
            paged.append((properties["meta"], [body["meta"]]))
        else:
            paging = {k: v for k, v in properties.items() if k != key}
            paged.append(({"properties": paging}, [{k: v for k, v in body.items() if k != key}]))
        return paged
    return [(schema, [body])]


async def call(http, method: str, path: str, **kwargs) -> tuple[int, Any, Any]:
    async with http.request(method, path, **kwargs) as resp:
        raw = await resp.read()
        return resp.status, (json.loads(raw) if raw else b""), resp.headers


def test_the_schemas_are_loaded_for_every_operation_we_serve():
    assert set(operations()) >= {
        "ListWorkspace",
        "CreateWorkspace",
        "FetchWorkspace",
        "UpdateWorkspace",
        "DeleteWorkspace",
        "ListActivity",
        "CreateActivity",
        "FetchActivity",
        "UpdateActivity",
        "DeleteActivity",
        "ListWorker",
        "CreateWorker",
        "FetchWorker",
        "UpdateWorker",
        "DeleteWorker",
        "ListEvent",
        "FetchEvent",
        "ListCallEvent",
    }
    # nullable became a JSON Schema type union, and $refs were inlined.
    worker = response_schema("FetchWorker", 200)
    assert worker["properties"]["attributes"]["type"] == ["string", "null"]
    assert response_schema("FetchWorkspace", 200)["properties"]["prioritize_queue_order"]["enum"] == ["FIFO", "LIFO"]


def test_the_checker_rejects_a_body_that_breaks_the_schema():
    status, body = 200, {"sid": "WK123", "available": "yes"}
    with pytest.raises(jsonschema.ValidationError):
        check("FetchWorker", 200, status, body)
    with pytest.raises(AssertionError):  # valid types, but properties missing
        check("FetchWorker", 200, status, {"sid": "WK" + "0" * 32})
    all_null = dict.fromkeys(response_schema("FetchWorker", 200)["properties"])
    check("FetchWorker", 200, status, all_null)  # every property is nullable in Twilio's schema
    with pytest.raises(jsonschema.ValidationError):  # formats are checked too
        check("FetchWorker", 200, status, {**all_null, "date_created": "yesterday"})


async def test_workspaces_conform(emulator_http):
    status, created, _ = await call(
        emulator_http,
        "POST",
        "/v1/Workspaces",
        data={
            "FriendlyName": "Conform",
            "EventCallbackUrl": "https://example.com/cb",
            "EventsFilter": "worker.created",
            "MultiTaskEnabled": "true",
            "PrioritizeQueueOrder": "LIFO",
        },
    )
    check("CreateWorkspace", 201, status, created)
    sid = created["sid"]
    check("FetchWorkspace", 200, *(await call(emulator_http, "GET", f"/v1/Workspaces/{sid}"))[:2])
    check(
        "UpdateWorkspace",
        200,
        *(await call(emulator_http, "POST", f"/v1/Workspaces/{sid}", data={"FriendlyName": "C2"}))[:2],
    )
    status, listed, _ = await call(emulator_http, "GET", "/v1/Workspaces", params={"PageSize": 1})
    check("ListWorkspace", 200, status, listed)
    assert listed["meta"]["next_page_url"] is not None
    status, second, _ = await call(emulator_http, "GET", listed["meta"]["next_page_url"])
    check("ListWorkspace", 200, status, second)
    assert second["meta"]["previous_page_url"] is not None
    check(
        "ListWorkspace", 200, *(await call(emulator_http, "GET", "/v1/Workspaces", params={"FriendlyName": "none"}))[:2]
    )
    check("DeleteWorkspace", 204, *(await call(emulator_http, "DELETE", f"/v1/Workspaces/{sid}"))[:2])


async def test_activities_conform(emulator_http):
    base = f"/v1/Workspaces/{WS}/Activities"
    status, created, _ = await call(emulator_http, "POST", base, data={"FriendlyName": "C", "Available": "true"})
    check("CreateActivity", 201, status, created)
    check("FetchActivity", 200, *(await call(emulator_http, "GET", f"{base}/{created['sid']}"))[:2])
    check(
        "UpdateActivity",
        200,
        *(await call(emulator_http, "POST", f"{base}/{created['sid']}", data={"FriendlyName": "D"}))[:2],
    )
    for query in ({}, {"PageSize": 2}, {"Available": "true", "FriendlyName": "D"}):
        check("ListActivity", 200, *(await call(emulator_http, "GET", base, params=query))[:2])
    check("DeleteActivity", 204, *(await call(emulator_http, "DELETE", f"{base}/{created['sid']}"))[:2])


async def test_workers_conform_including_etags(emulator_http):
    base = f"/v1/Workspaces/{WS}/Workers"
    sids = []
    for n in range(3):
        status, created, headers = await call(
            emulator_http, "POST", base, data={"FriendlyName": f"c{n}", "Attributes": '{"n": %d}' % n}
        )
        check("CreateWorker", 201, status, created)
        assert headers["ETag"] == '"0"'
        sids.append(created["sid"])
    status, fetched, headers = await call(emulator_http, "GET", f"{base}/{sids[0]}")
    check("FetchWorker", 200, status, fetched)
    assert headers["ETag"] == '"0"'
    status, updated, headers = await call(
        emulator_http, "POST", f"{base}/{sids[0]}", data={"Attributes": "{}"}, headers={"If-Match": '"0"'}
    )
    check("UpdateWorker", 200, status, updated)
    assert headers["ETag"] == '"1"'
    status, page, _ = await call(
        emulator_http, "GET", base, params={"PageSize": 2, "Ordering": "DateStatusChanged:desc"}
    )
    check("ListWorker", 200, status, page)
    assert all(w["attributes"] is None for w in page["workers"])
    check("ListWorker", 200, *(await call(emulator_http, "GET", page["meta"]["next_page_url"]))[:2])
    check(
        "ListWorker",
        200,
        *(await call(emulator_http, "GET", base, params={"TargetWorkersExpression": "n > 0", "Available": "0"}))[:2],
    )
    check("DeleteWorker", 204, *(await call(emulator_http, "DELETE", f"{base}/{sids[2]}"))[:2])


async def test_events_conform(emulator_http):
    await call(emulator_http, "POST", f"/v1/Workspaces/{WS}/Workers", data={"FriendlyName": "ev"})
    status, page, _ = await call(emulator_http, "GET", f"/v1/Workspaces/{WS}/Events", params={"PageSize": 3})
    check("ListEvent", 200, status, page)
    assert page["events"] and page["meta"]["next_page_url"]
    check("ListEvent", 200, *(await call(emulator_http, "GET", page["meta"]["next_page_url"]))[:2])
    for event in page["events"]:
        check("FetchEvent", 200, *(await call(emulator_http, "GET", f"/v1/Workspaces/{WS}/Events/{event['sid']}"))[:2])


async def test_call_events_conform(emulator_http, emulator):
    event = {
        "request": {"url": "https://example.com/v", "parameters": {"From": "+15550001111"}},
        "response": {"response_code": 200},
    }
    status, recorded, _ = await call(emulator_http, "POST", "/admin/calls", json={"events": [event] * 3})
    assert status == 201
    path = f"/2010-04-01/Accounts/{emulator.config.account_sid}/Calls/{recorded['sid']}/Events.json"
    status, page, _ = await call(emulator_http, "GET", path, params={"PageSize": 2})
    check("ListCallEvent", 200, status, page)
    check("ListCallEvent", 200, *(await call(emulator_http, "GET", page["next_page_uri"]))[:2])
