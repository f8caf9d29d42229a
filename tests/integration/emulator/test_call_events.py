"""Voice Call Events (the Call Events page): calls recorded through POST /admin/calls, read back through
GET /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}/Events.json with the 2010 API's paging fields."""

from __future__ import annotations

import aiohttp
import pytest

from taskrouter_emulator.testing import basic_auth_header, expect_twilio_error


def call_event(n: int, **response) -> dict:
    return {
        "request": {
            "method": "POST",
            "url": f"https://example.com/twiml/{n}",
            "parameters": {
                "CallSid": "CA" + "0" * 32,
                "AccountSid": "AC" + "0" * 32,
                "StatusCallbackMethod": "POST",
                "step": n,
            },
        },
        "response": {
            "response_code": 200,
            "request_duration": 40 + n,
            "content_type": "text/xml",
            "response_body": f"<Response><Say>{n}</Say></Response>",
            **response,
        },
    }


async def record(http, events: list[dict], sid: str | None = None) -> dict:
    body: dict = {"events": events}
    if sid:
        body["sid"] = sid
    async with http.post("/admin/calls", json=body) as resp:
        created = await resp.json()
        assert resp.status == 201, created
        return created


def events_path(emulator, call_sid: str) -> str:
    return f"/2010-04-01/Accounts/{emulator.config.account_sid}/Calls/{call_sid}/Events.json"


async def test_recorded_call_events_come_back_in_twilio_shape(emulator_http, emulator):
    call = await record(emulator_http, [call_event(1, date_created="Tue, 11 Aug 2020 17:44:08 +0000")])
    assert call["sid"].startswith("CA") and len(call["sid"]) == 34
    assert call["account_sid"] == emulator.config.account_sid and call["event_count"] == 1
    path = events_path(emulator, call["sid"])
    assert call["uri"] == path and call["url"] == emulator.base_url + path
    async with emulator_http.get(path) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body == {
        "events": [
            {
                "request": {
                    "method": "POST",
                    "url": "https://example.com/twiml/1",
                    # Parameter names are presented in snake_case, as Twilio does.
                    "parameters": {
                        "call_sid": "CA" + "0" * 32,
                        "account_sid": "AC" + "0" * 32,
                        "status_callback_method": "POST",
                        "step": "1",
                    },
                },
                "response": {
                    "response_code": 200,
                    "request_duration": 41,
                    "content_type": "text/xml",
                    "response_body": "<Response><Say>1</Say></Response>",
                    "date_created": "Tue, 11 Aug 2020 17:44:08 +0000",
                },
            }
        ],
        "end": 0,
        "first_page_uri": f"{path}?PageSize=50&Page=0",
        "next_page_uri": None,
        "page": 0,
        "page_size": 50,
        "previous_page_uri": None,
        "start": 0,
        "uri": f"{path}?PageSize=50&Page=0",
    }


async def test_only_url_and_response_code_are_required(emulator_http, emulator):
    call = await record(
        emulator_http, [{"request": {"url": "https://example.com/a"}, "response": {"response_code": 204}}]
    )
    async with emulator_http.get(events_path(emulator, call["sid"])) as resp:
        [event] = (await resp.json())["events"]
    assert event["request"] == {"method": "POST", "url": "https://example.com/a", "parameters": {}}
    response = event["response"]
    assert (
        response["response_code"],
        response["request_duration"],
        response["content_type"],
        response["response_body"],
    ) == (
        204,
        0,
        "application/xml",
        "",
    )
    assert response["date_created"].endswith(" +0000")


async def test_pages_follow_next_and_previous_uris_with_start_and_end(emulator_http, emulator):
    call = await record(emulator_http, [call_event(n) for n in range(5)])
    path = events_path(emulator, call["sid"])
    async with emulator_http.get(path, params={"PageSize": 2}) as resp:
        page = await resp.json()
    seen, spans, pages = [], [], []
    while True:
        seen += [e["request"]["parameters"]["step"] for e in page["events"]]
        spans.append((page["start"], page["end"]))
        pages.append(page["page"])
        assert page["page_size"] == 2 and page["first_page_uri"] == f"{path}?PageSize=2&Page=0"
        if page["next_page_uri"] is None:
            break
        assert page["next_page_uri"].startswith(path + "?")  # relative, as the 2010 API gives it
        async with emulator_http.get(page["next_page_uri"]) as resp:
            page = await resp.json()
    assert seen == ["0", "1", "2", "3", "4"]
    assert spans == [(0, 1), (2, 3), (4, 4)]
    assert pages == [0, 1, 2]
    async with emulator_http.get(page["previous_page_uri"]) as resp:
        back = await resp.json()
    assert [e["request"]["parameters"]["step"] for e in back["events"]] == ["2", "3"]
    assert (back["start"], back["end"], back["page"]) == (2, 3, 1)


async def test_recording_again_with_the_sid_appends(emulator_http, emulator):
    call = await record(emulator_http, [call_event(0)])
    again = await record(emulator_http, [call_event(1), call_event(2)], sid=call["sid"])
    assert again["sid"] == call["sid"] and again["event_count"] == 3
    async with emulator_http.get(events_path(emulator, call["sid"])) as resp:
        assert [e["request"]["parameters"]["step"] for e in (await resp.json())["events"]] == ["0", "1", "2"]


async def test_a_chosen_call_sid_is_kept(emulator_http, emulator):
    sid = "CA" + "ab" * 16
    assert (await record(emulator_http, [call_event(0)], sid=sid))["sid"] == sid
    async with emulator_http.get(events_path(emulator, sid)) as resp:
        assert resp.status == 200


@pytest.mark.parametrize(
    "call_sid",
    ["CA" + "1" * 32, "CA123", "nope", "WK" + "0" * 32],
)
async def test_unknown_or_malformed_call_is_404(emulator_http, emulator, call_sid):
    async with emulator_http.get(events_path(emulator, call_sid)) as resp:
        await expect_twilio_error(resp, 404, 20404)


async def test_another_accounts_path_is_404(emulator_http, emulator):
    call = await record(emulator_http, [call_event(0)])
    async with emulator_http.get(f"/2010-04-01/Accounts/AC{'e' * 32}/Calls/{call['sid']}/Events.json") as resp:
        await expect_twilio_error(resp, 404, 20404)


async def test_api_key_credentials_read_call_events(emulator, emulator_http):
    call = await record(emulator_http, [call_event(0)])
    headers = basic_auth_header(emulator.config.api_key_sid, emulator.config.api_key_secret)
    async with aiohttp.ClientSession(base_url=emulator.base_url, headers=headers) as http:
        async with http.get(events_path(emulator, call["sid"])) as resp:
            assert resp.status == 200


@pytest.mark.parametrize(
    "body, mentions",
    [
        ("not json", "JSON"),
        ([], "JSON object"),
        ({}, "events"),
        ({"events": []}, "events"),
        ({"events": [{"request": {}, "response": {"response_code": 200}}]}, "events[0].request.url"),
        ({"events": [{"request": {"url": "u"}, "response": {}}]}, "response_code"),
        ({"events": [{"request": {"url": "u"}, "response": {"response_code": 99}}]}, "response_code"),
        ({"events": [{"request": {"url": "u"}, "response": {"response_code": "200"}}]}, "response_code"),
        ({"events": [{"request": {"url": "u", "method": "PUT"}, "response": {"response_code": 200}}]}, "method"),
        (
            {"events": [{"request": {"url": "u", "parameters": {"a": [1]}}, "response": {"response_code": 200}}]},
            "parameters.a",
        ),
        (
            {"events": [{"request": {"url": "u"}, "response": {"response_code": 200, "request_duration": -1}}]},
            "request_duration",
        ),
        ({"events": [call_event(0)], "sid": "CA1"}, "sid"),
        ({"events": [call_event(0), "x"]}, "events[1]"),
    ],
)
async def test_admin_rejects_bad_bodies_and_records_nothing(emulator_http, emulator, body, mentions):
    kwargs = {"data": body} if isinstance(body, str) else {"json": body}
    async with emulator_http.post("/admin/calls", **kwargs) as resp:
        error = await expect_twilio_error(resp, 400, 20001)
    assert mentions in error["message"]
    assert emulator.context.store.counts()["calls"] == 0


async def test_admin_api_needs_credentials(emulator):
    async with aiohttp.ClientSession(base_url=emulator.base_url) as http:
        async with http.post("/admin/calls", json={"events": [call_event(0)]}) as resp:
            await expect_twilio_error(resp, 401, 20003)
    assert emulator.context.store.counts()["calls"] == 0
