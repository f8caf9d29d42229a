"""Every task-routing endpoint's responses validate against Twilio's OpenAPI schemas, paging meta included
(the checker and schema loading are test_conformance.py's)."""

from __future__ import annotations

import json

from .routing_kit import new_space, ok
from .test_conformance import call, check


async def test_task_channels_conform(emulator_http):
    space = await new_space(emulator_http, virtual_clock=False)
    base = f"{space.base}/TaskChannels"
    status, page, _ = await call(emulator_http, "GET", base, params={"PageSize": 2})
    check("ListTaskChannel", 200, status, page)
    assert [c["unique_name"] for c in page["channels"]] == ["default", "voice"]
    status, second, _ = await call(emulator_http, "GET", page["meta"]["next_page_url"])
    check("ListTaskChannel", 200, status, second)
    status, made, _ = await call(emulator_http, "POST", base, data={"FriendlyName": "Fax", "UniqueName": "fax",
                                                                    "ChannelOptimizedRouting": "true"})
    check("CreateTaskChannel", 201, status, made)
    check("FetchTaskChannel", 200, *(await call(emulator_http, "GET", f"{base}/{made['sid']}"))[:2])
    check("FetchTaskChannel", 200, *(await call(emulator_http, "GET", f"{base}/fax"))[:2])
    check("UpdateTaskChannel", 200,
          *(await call(emulator_http, "POST", f"{base}/{made['sid']}", data={"FriendlyName": "Telefax"}))[:2])
    check("DeleteTaskChannel", 204, *(await call(emulator_http, "DELETE", f"{base}/{made['sid']}"))[:2])


async def test_queues_workflows_tasks_reservations_and_worker_channels_conform(emulator_http):
    space = await new_space(emulator_http, virtual_clock=False)
    status, queue, _ = await call(emulator_http, "POST", f"{space.base}/TaskQueues", data={
        "FriendlyName": "Q", "TargetWorkers": "skill == 'a'", "MaxReservedWorkers": "2", "TaskOrder": "LIFO",
        "ReservationActivitySid": space.activities["Reserved"], "AssignmentActivitySid": space.activities["Busy"],
    })
    check("CreateTaskQueue", 201, status, queue)
    await space.queue("Q2")
    check("FetchTaskQueue", 200, *(await call(emulator_http, "GET", f"{space.base}/TaskQueues/{queue['sid']}"))[:2])
    check("UpdateTaskQueue", 200, *(await call(emulator_http, "POST", f"{space.base}/TaskQueues/{queue['sid']}",
                                               data={"TargetWorkers": "skill == 'b'"}))[:2])
    status, page, _ = await call(emulator_http, "GET", f"{space.base}/TaskQueues", params={"PageSize": 1})
    check("ListTaskQueue", 200, status, page)
    check("ListTaskQueue", 200, *(await call(emulator_http, "GET", page["meta"]["next_page_url"]))[:2])
    check("ListTaskQueue", 200, *(await call(emulator_http, "GET", f"{space.base}/TaskQueues",
                                             params={"EvaluateWorkerAttributes": '{"skill": "b"}'}))[:2])

    status, workflow, _ = await call(emulator_http, "POST", f"{space.base}/Workflows", data={
        "FriendlyName": "W", "Configuration": json.dumps({"task_routing": {"default_filter": {"queue": queue["sid"]}}}),
        "AssignmentCallbackUrl": "http://127.0.0.1:9/assign", "TaskReservationTimeout": "60",
    })
    check("CreateWorkflow", 201, status, workflow)
    check("FetchWorkflow", 200, *(await call(emulator_http, "GET", f"{space.base}/Workflows/{workflow['sid']}"))[:2])
    check("UpdateWorkflow", 200, *(await call(emulator_http, "POST", f"{space.base}/Workflows/{workflow['sid']}",
                                              data={"FriendlyName": "W2"}))[:2])
    check("ListWorkflow", 200, *(await call(emulator_http, "GET", f"{space.base}/Workflows"))[:2])

    worker = await space.worker("w", {"skill": "b"})
    tasks = []
    for n in range(3):
        status, task, headers = await call(emulator_http, "POST", f"{space.base}/Tasks", data={
            "WorkflowSid": workflow["sid"], "Attributes": json.dumps({"n": n}), "Priority": str(n)})
        check("CreateTask", 201, status, task)
        assert headers["ETag"] == '"0"'
        tasks.append(task["sid"])
    check("FetchTask", 200, *(await call(emulator_http, "GET", f"{space.base}/Tasks/{tasks[0]}"))[:2])
    check("UpdateTask", 200, *(await call(emulator_http, "POST", f"{space.base}/Tasks/{tasks[0]}",
                                          data={"Priority": "7"}))[:2])
    status, page, _ = await call(emulator_http, "GET", f"{space.base}/Tasks",
                                 params={"PageSize": 2, "Ordering": "Priority:desc"})
    check("ListTask", 200, status, page)
    check("ListTask", 200, *(await call(emulator_http, "GET", page["meta"]["next_page_url"]))[:2])

    reserved = await space.worker_reservations(worker)
    assert len(reserved) == 1
    res = reserved[0]
    task_base = f"{space.base}/Tasks/{res['task_sid']}/Reservations"
    status, page, _ = await call(emulator_http, "GET", task_base)
    check("ListTaskReservation", 200, status, page)
    check("FetchTaskReservation", 200, *(await call(emulator_http, "GET", f"{task_base}/{res['sid']}"))[:2])
    worker_base = f"{space.base}/Workers/{worker}/Reservations"
    check("ListWorkerReservation", 200, *(await call(emulator_http, "GET", worker_base))[:2])
    check("FetchWorkerReservation", 200, *(await call(emulator_http, "GET", f"{worker_base}/{res['sid']}"))[:2])
    check("UpdateWorkerReservation", 200, *(await call(emulator_http, "POST", f"{worker_base}/{res['sid']}",
                                                       data={"ReservationStatus": "accepted"}))[:2])
    check("UpdateTaskReservation", 200, *(await call(emulator_http, "POST", f"{task_base}/{res['sid']}",
                                                     data={"ReservationStatus": "completed"}))[:2])

    channels = f"{space.base}/Workers/{worker}/Channels"
    status, page, _ = await call(emulator_http, "GET", channels, params={"PageSize": 3})
    check("ListWorkerChannel", 200, status, page)
    status, second, _ = await call(emulator_http, "GET", page["meta"]["next_page_url"])
    check("ListWorkerChannel", 200, status, second)
    chat = next(c for c in second["channels"] if c["task_channel_unique_name"] == "chat")
    check("FetchWorkerChannel", 200, *(await call(emulator_http, "GET", f"{channels}/{chat['sid']}"))[:2])
    check("UpdateWorkerChannel", 200, *(await call(emulator_http, "POST", f"{channels}/{chat['sid']}",
                                                   data={"Capacity": "3", "Available": "false"}))[:2])

    status, events, _ = await call(emulator_http, "GET", f"{space.base}/Events", params={"PageSize": 50})
    check("ListEvent", 200, status, events)
    routing_types = {e["resource_type"] for e in events["events"]}
    assert {"task", "reservation", "taskqueue", "workflow"} <= routing_types, routing_types
    for event in events["events"]:
        if event["resource_type"] == "reservation":
            assert event["resource_url"].endswith(f"/Tasks/{event['event_data']['task_sid']}/Reservations/"
                                                  f"{event['resource_sid']}")
    check("DeleteTask", 204, *(await call(emulator_http, "DELETE", f"{space.base}/Tasks/{tasks[2]}"))[:2])
    for task in tasks[:2]:
        if (await space.get_task(task))["assignment_status"] in ("pending", "reserved"):
            await ok(emulator_http, "POST", f"{space.base}/Tasks/{task}", data={"AssignmentStatus": "canceled"})
    check("DeleteWorkflow", 204, *(await call(emulator_http, "DELETE", f"{space.base}/Workflows/{workflow['sid']}"))[:2])
    check("DeleteTaskQueue", 204, *(await call(emulator_http, "DELETE", f"{space.base}/TaskQueues/{queue['sid']}"))[:2])
