"""Two contradictions settled, in code and docs alike (docs/statistics.md, "Settled").

- The Events list order: Twilio's pages and spec do not say it. The emulator lists oldest first (log order),
  the gateway passes Twilio's order through, and event_service.proto says exactly that instead of claiming
  "newest first".
- Minutes with StartDate/EndDate: Twilio's Worker Statistics page refuses the combination; the emulator (400)
  and the gateway (INVALID_ARGUMENT, before any upstream call) refuse it on every window, and both cap a
  statistics Minutes at 43,200."""

from __future__ import annotations

import re
from pathlib import Path

import grpc
import pytest
from google.protobuf import timestamp_pb2

from taskrouter.gateway.v1 import event_service_pb2 as e
from taskrouter.gateway.v1 import event_service_pb2_grpc
from taskrouter.gateway.v1 import statistics_service_pb2 as s
from taskrouter.gateway.v1 import statistics_service_pb2_grpc
from taskrouter.gateway.v1 import worker_service_pb2 as w
from taskrouter.gateway.v1 import worker_service_pb2_grpc
from taskrouter_gateway.errors import error_info_from

PROTOS = Path(__file__).resolve().parents[3] / "protos" / "taskrouter" / "gateway" / "v1"


def test_the_list_events_comment_claims_no_order_twilio_does_not_document():
    text = (PROTOS / "event_service.proto").read_text()
    comment = re.search(r"((?:  //.*\n)+)  rpc ListEvents\(", text)
    assert comment is not None
    said = " ".join(line.strip().removeprefix("//").strip() for line in comment.group(1).splitlines())
    assert "newest first" not in said
    assert "oldest first" in said and "do not say" in said and "event_date_ms" in said


async def test_the_emulator_lists_events_oldest_first_across_pages(gateway, channel, emulator):
    ws = emulator.config.default_workspace_sid
    workers = worker_service_pb2_grpc.WorkerServiceStub(channel)
    made = [(await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name=f"o{i}"))).sid
            for i in range(5)]
    events = event_service_pb2_grpc.EventServiceStub(channel)
    seen: list[e.Event] = []
    token = ""
    while True:
        page = await events.ListEvents(e.ListEventsRequest(workspace_sid=ws, event_type="worker.created",
                                                           page_size=2, page_token=token))
        seen += page.events
        token = page.next_page_token
        if not token:
            break
    assert [x.resource_sid for x in seen if x.resource_sid in made] == made
    dates = [x.event_date_ms for x in seen]
    assert dates == sorted(dates)


@pytest.mark.parametrize("bound", ["start_date", "end_date"])
async def test_list_events_refuses_minutes_with_a_date_before_any_upstream_call(channel, emulator_admin, bound):
    stub = event_service_pb2_grpc.EventServiceStub(channel)
    before = await emulator_admin.requests_seen()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ListEvents(e.ListEventsRequest(workspace_sid="WS" + "a" * 32, minutes=30,
                                                  **{bound: timestamp_pb2.Timestamp(seconds=2_000_000_000)}))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, bad = error_info_from(caught.value)
    assert [v.field for v in bad.field_violations] == ["minutes"]
    assert await emulator_admin.requests_seen() == before


async def test_gateway_and_emulator_agree_on_the_statistics_window(channel, emulator, emulator_http):
    """The same window, through the gateway and straight to the emulator: refused alike, accepted alike."""
    ws = emulator.config.default_workspace_sid
    stats = statistics_service_pb2_grpc.StatisticsServiceStub(channel)
    cases = [
        ({"minutes": 43_200}, {"Minutes": "43200"}, True),
        ({"minutes": 43_201}, {"Minutes": "43201"}, False),
        ({"minutes": 60, "start_date": timestamp_pb2.Timestamp(seconds=2_000_000_000)},
         {"Minutes": "60", "StartDate": "2033-05-18T03:33:20Z"}, False),
    ]
    for grpc_fields, rest_query, accepted in cases:
        async with emulator_http.get(f"/v1/Workspaces/{ws}/Workers/Statistics", params=rest_query) as resp:
            assert (resp.status == 200) is accepted, (rest_query, await resp.text())
            if not accepted:
                assert "Minutes" in (await resp.json())["message"]
        try:
            await stats.GetWorkerStatistics(s.GetWorkerStatisticsRequest(workspace_sid=ws, **grpc_fields))
        except grpc.aio.AioRpcError as exc:
            assert not accepted and exc.code() == grpc.StatusCode.INVALID_ARGUMENT, grpc_fields
            _, bad = error_info_from(exc)
            assert [v.field for v in bad.field_violations] == ["minutes"]
        else:
            assert accepted, grpc_fields
