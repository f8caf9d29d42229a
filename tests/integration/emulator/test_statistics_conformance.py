"""Every statistics endpoint's responses validate against Twilio's OpenAPI schemas (test_conformance's checker:
exact property sets on the top-level resources), with every parameter given at least once."""

from __future__ import annotations

from taskrouter_emulator.render import iso

from .routing_kit import ok
from .statistics_kit import contact_centre
from .test_conformance import call, check


async def test_every_statistics_response_conforms(emulator_http):
    c = await contact_centre(emulator_http)
    task = await c.space.task(c.wf, Priority="2")
    await c.space.advance(3)
    res = (await c.space.reservations(task, "pending"))[0]
    await c.space.update_reservation(task, res["sid"], ReservationStatus="accepted")
    await c.space.task(c.wf, TaskChannel="voice")
    window = {"Minutes": "60", "SplitByWaitTime": "2,10", "TaskChannel": "default"}
    now = (await ok(emulator_http, "GET", "/admin/clock"))["now"]
    dates = {"StartDate": iso(now - 86_400), "EndDate": iso(now + 60)}
    base = c.base
    cases = [
        ("FetchWorkspaceStatistics", f"{base}/Statistics", window),
        ("FetchWorkspaceCumulativeStatistics", f"{base}/CumulativeStatistics", window),
        ("FetchWorkspaceCumulativeStatistics", f"{base}/CumulativeStatistics", {}),
        ("FetchWorkspaceRealTimeStatistics", f"{base}/RealTimeStatistics", {"TaskChannel": "voice"}),
        ("FetchTaskQueueStatistics", f"{base}/TaskQueues/{c.q1}/Statistics", window),
        ("FetchTaskQueueCumulativeStatistics", f"{base}/TaskQueues/{c.q1}/CumulativeStatistics", window),
        ("FetchTaskQueueRealTimeStatistics", f"{base}/TaskQueues/{c.q1}/RealTimeStatistics", {}),
        ("FetchTaskQueueRealTimeStatistics", f"{base}/TaskQueues/{c.q2}/RealTimeStatistics", {"TaskChannel": "voice"}),
        ("FetchWorkerInstanceStatistics", f"{base}/Workers/{c.workers[0]}/Statistics", {"Minutes": "5"}),
        ("FetchWorkerStatistics", f"{base}/Workers/Statistics", {"TaskQueueSid": c.q2, "FriendlyName": "w2"}),
        ("FetchWorkerStatistics", f"{base}/Workers/Statistics", {"TaskQueueName": "First", "TaskChannel": "voice"}),
        ("FetchWorkersCumulativeStatistics", f"{base}/Workers/CumulativeStatistics", {"Minutes": "30"}),
        ("FetchWorkersRealTimeStatistics", f"{base}/Workers/RealTimeStatistics", {"TaskChannel": "default"}),
        ("FetchWorkflowStatistics", f"{base}/Workflows/{c.wf}/Statistics", window),
        ("FetchWorkflowCumulativeStatistics", f"{base}/Workflows/{c.wf}/CumulativeStatistics", dates),
        ("FetchWorkflowRealTimeStatistics", f"{base}/Workflows/{c.wf}/RealTimeStatistics", {}),
    ]
    for operation, path, params in cases:
        status, body, _ = await call(emulator_http, "GET", path, params=params)
        check(operation, 200, status, body)

    queues = f"{base}/TaskQueues/Statistics"
    status, page, _ = await call(emulator_http, "GET", queues, params={"PageSize": 1, **window})
    check("ListTaskQueuesStatistics", 200, status, page)
    assert [q["task_queue_sid"] for q in page["task_queues_statistics"]] == [c.q1]
    status, second, _ = await call(emulator_http, "GET", page["meta"]["next_page_url"])
    check("ListTaskQueuesStatistics", 200, status, second)
    assert [q["task_queue_sid"] for q in second["task_queues_statistics"]] == [c.q2]
    status, named, _ = await call(emulator_http, "GET", queues, params={"FriendlyName": "Second"})
    check("ListTaskQueuesStatistics", 200, status, named)
    assert [q["task_queue_sid"] for q in named["task_queues_statistics"]] == [c.q2]

    status, bulk, _ = await call(emulator_http, "POST", f"{base}/TaskQueues/RealTimeStatistics",
                                 json={"QueueSids": [c.q1, c.q2]})
    check("CreateTaskQueueBulkRealTimeStatistics", 200, status, bulk)
    assert bulk["task_queue_response_count"] == 2
    assert [q["task_queue_sid"] for q in bulk["task_queue_data"]] == [c.q1, c.q2]
