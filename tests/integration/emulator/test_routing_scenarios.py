"""Routing scenarios over the emulator's HTTP API, each with the events it must record (docs/routing-events.md).
Time is virtual (POST /admin/clock): timeouts fire when the test advances the clock, never by sleeping."""

from __future__ import annotations

import json

from taskrouter_emulator.testing import expect_twilio_error

from .routing_kit import call, new_space, ok


async def test_reject_with_an_activity_then_the_next_worker_gets_it(emulator_http):
    space = await new_space(emulator_http, MultiTaskEnabled="false")
    queue = await space.queue("Q")
    wf = await space.simple_workflow(queue)
    alice = await space.worker("alice")
    task = await space.task(wf)
    bob = await space.worker("bob")  # idle for less time than alice, so alice was chosen
    start = len(await space.events())
    (res,) = await space.reservations(task, "pending")
    assert res["worker_sid"] == alice
    status, body = await space.update_reservation(task, res["sid"], ReservationStatus="rejected",
                                                  WorkerActivitySid=space.activities["Break"])
    assert status == 200 and body["reservation_status"] == "rejected"
    worker = await ok(emulator_http, "GET", f"{space.base}/Workers/{alice}")
    assert worker["activity_name"] == "Break"
    (again,) = await space.reservations(task, "pending")
    assert again["worker_sid"] == bob
    assert await space.event_types(start) == ["reservation.rejected", "worker.activity.update", "reservation.created"]


async def test_reservation_timeout_moves_the_worker_to_the_timeout_activity(emulator_http):
    space = await new_space(emulator_http)
    queue = await space.queue("Q")
    wf = await space.simple_workflow(queue, TaskReservationTimeout="30")
    alice = await space.worker("alice")
    task = await space.task(wf)
    start = len(await space.events())
    await space.advance(29)
    assert (await space.reservations(task))[0]["reservation_status"] == "pending"
    assert (await space.advance(1))["fired"] == 1
    assert [r["reservation_status"] for r in await space.reservations(task)] == ["timeout"]
    worker = await ok(emulator_http, "GET", f"{space.base}/Workers/{alice}")
    assert worker["activity_name"] == "Offline"  # the workspace's TimeoutActivity
    assert (await space.get_task(task))["assignment_status"] == "pending"
    assert await space.event_types(start) == ["reservation.timeout", "worker.activity.update"]


async def test_max_reserved_workers_three_one_accepted_two_rescinded(emulator_http):
    space = await new_space(emulator_http)
    queue = await space.queue("Q", MaxReservedWorkers="3")
    wf = await space.simple_workflow(queue)
    for name in ("a", "b", "c", "d"):
        await space.worker(name)
    task = await space.task(wf)
    pending = await space.reservations(task, "pending")
    assert len(pending) == 3
    start = len(await space.events())
    status, _ = await space.update_reservation(task, pending[1]["sid"], ReservationStatus="accepted")
    assert status == 200
    statuses = sorted(r["reservation_status"] for r in await space.reservations(task))
    assert statuses == ["accepted", "rescinded", "rescinded"]
    assert await space.event_types(start) == ["reservation.accepted", "reservation.rescinded", "reservation.rescinded"]
    # A rescinded reservation cannot be accepted any more; nothing changes.
    rescinded = next(r for r in await space.reservations(task) if r["reservation_status"] == "rescinded")
    status, body = await space.update_reservation(task, rescinded["sid"], ReservationStatus="accepted")
    assert status == 400 and body["code"] == 20001 and "not in expected state [pending]" in body["message"]


async def test_a_step_timeout_moves_the_task_to_the_next_target(emulator_http):
    space = await new_space(emulator_http)
    first, second = await space.queue("First", TargetWorkers="tier == 1"), await space.queue("Second")
    wf = await space.workflow({"task_routing": {"filters": [{"expression": "1 == 1", "targets": [
        {"queue": first, "timeout": 60}, {"queue": second}]}]}})
    await space.worker("tier2", {"tier": 2})
    task = await space.task(wf)
    assert (await space.get_task(task))["task_queue_sid"] == first
    assert await space.reservations(task) == []
    start = len(await space.events())
    await space.advance(60)
    moved = await space.get_task(task)
    assert moved["task_queue_sid"] == second and moved["assignment_status"] == "reserved"
    assert await space.event_types(start) == [
        "task-queue.timeout", "workflow.target-matched", "task-queue.moved", "task-queue.entered", "reservation.created"]


async def test_the_end_of_the_workflow_cancels_the_task(emulator_http):
    space = await new_space(emulator_http)
    queue = await space.queue("Q")
    wf = await space.workflow({"task_routing": {"filters": [{"expression": "1 == 1", "targets": [
        {"queue": queue, "timeout": 30}]}]}})
    task = await space.task(wf)
    start = len(await space.events())
    await space.advance(30)
    canceled = await space.get_task(task)
    assert canceled["assignment_status"] == "canceled" and canceled["reason"] == "Task canceled on Workflow timeout"
    assert await space.event_types(start) == ["task-queue.timeout", "workflow.timeout", "task.canceled"]


async def test_skip_if_skips_a_target_with_no_available_worker(emulator_http):
    space = await new_space(emulator_http)
    vip, general = await space.queue("VIP", TargetWorkers="vip == true"), await space.queue("General")
    wf = await space.workflow({"task_routing": {"filters": [{"expression": "1 == 1", "targets": [
        {"queue": vip, "skip_if": "workers.available == 0"}, {"queue": general}]}]}})
    await space.worker("plain")
    task = await space.task(wf)
    assert (await space.get_task(task))["task_queue_sid"] == general
    # On the last target, skip_if takes the task out of the workflow.
    only = await space.workflow({"task_routing": {"filters": [{"expression": "1 == 1", "targets": [
        {"queue": vip, "skip_if": "workers.available == 0"}]}]}}, FriendlyName="only")
    start = len(await space.events())
    skipped = await space.task(only)
    assert (await space.get_task(skipped))["assignment_status"] == "canceled"
    assert await space.event_types(start) == ["task.created", "workflow.entered", "workflow.skipped", "task.canceled"]


async def test_the_task_ttl_cancels_an_unassigned_task(emulator_http):
    space = await new_space(emulator_http)
    wf = await space.simple_workflow(await space.queue("Q"))
    task = await space.task(wf, Timeout="100")
    start = len(await space.events())
    await space.advance(99)
    assert (await space.get_task(task))["assignment_status"] == "pending"
    await space.advance(1)
    body = await space.get_task(task)
    assert body["assignment_status"] == "canceled" and body["reason"] == "Task TTL Exceeded"
    assert await space.event_types(start) == ["task.canceled"]


async def _order_of_assignment(space, queue_params: dict, priorities: list[int]) -> list[int]:
    queue = await space.queue("Q", **queue_params)
    wf = await space.simple_workflow(queue)
    for index, priority in enumerate(priorities):
        await space.task(wf, {"n": index}, Priority=str(priority))
        await space.advance(1)
    order = []
    worker = await space.worker("solo")
    for _ in priorities:
        (res,) = await space.worker_reservations(worker, "pending")
        order.append(json.loads((await space.get_task(res["task_sid"]))["attributes"])["n"])
        await space.update_reservation(res["task_sid"], res["sid"], ReservationStatus="accepted")
        await space.update_reservation(res["task_sid"], res["sid"], ReservationStatus="completed")
    return order


async def test_fifo_takes_priority_then_age(emulator_http):
    space = await new_space(emulator_http)
    assert await _order_of_assignment(space, {}, [0, 5, 0, 5]) == [1, 3, 0, 2]


async def test_lifo_takes_the_newest_first_ignoring_priority(emulator_http):
    space = await new_space(emulator_http)
    assert await _order_of_assignment(space, {"TaskOrder": "LIFO"}, [0, 5, 0, 5]) == [3, 2, 1, 0]


async def test_order_by_chooses_the_worker_and_longest_idle_otherwise(emulator_http):
    space = await new_space(emulator_http)
    queue = await space.queue("Q")
    novice = await space.worker("novice", {"level": 1})
    expert = await space.worker("expert", {"level": 9})
    plain = await space.simple_workflow(queue, FriendlyName="plain")
    ranked = await space.workflow({"task_routing": {"filters": [{"expression": "1 == 1", "targets": [
        {"queue": queue, "order_by": "worker.level DESC"}]}]}}, FriendlyName="ranked")
    first = await space.task(ranked)
    assert (await space.reservations(first))[0]["worker_sid"] == expert
    await ok(emulator_http, "DELETE", f"{space.base}/Tasks/{first}")
    second = await space.task(plain)
    assert (await space.reservations(second))[0]["worker_sid"] == novice  # idle longest (created first)


async def test_known_worker_sid_and_friendly_name(emulator_http):
    space = await new_space(emulator_http)
    queue = await space.queue("Q")
    await space.worker("a")
    bob = await space.worker("bob")
    by_sid = await space.workflow({"task_routing": {"filters": [{"expression": "1 == 1", "targets": [
        {"queue": queue, "known_worker_sid": "task.agent"}]}]}}, FriendlyName="sid")
    task = await space.task(by_sid, {"agent": bob})
    assert (await space.reservations(task))[0]["worker_sid"] == bob
    await ok(emulator_http, "DELETE", f"{space.base}/Tasks/{task}")
    by_name = await space.workflow({"task_routing": {"filters": [{"expression": "1 == 1", "targets": [
        {"queue": queue, "known_worker_friendly_name": "task.agent_name"}]}]}}, FriendlyName="name")
    task = await space.task(by_name, {"agent_name": "BOB"})
    assert (await space.reservations(task))[0]["worker_sid"] == bob


async def test_routing_target_bypasses_the_workflow(emulator_http):
    space = await new_space(emulator_http)
    queue = await space.queue("Q")
    await space.worker("a")
    bob = await space.worker("bob")
    start = len(await space.events())
    task = await space.task(None, TaskQueueSid=queue, RoutingTarget=bob)
    assert (await space.reservations(task))[0]["worker_sid"] == bob
    assert (await space.get_task(task))["routing_target"] == bob
    assert await space.event_types(start) == ["task.created", "task-queue.entered", "reservation.created"]


async def test_chat_capacity_three_a_fourth_task_waits_until_a_channel_frees(emulator_http):
    space = await new_space(emulator_http)
    wf = await space.simple_workflow(await space.queue("Q"))
    agent = await space.worker("agent")
    start = len(await space.events())
    status, body = await call(emulator_http, "POST", f"{space.base}/Workers/{agent}/Channels/chat",
                              data={"Capacity": "3"})
    assert status == 200 and body["configured_capacity"] == 3
    tasks = [await space.task(wf, TaskChannel="chat") for _ in range(4)]
    for task in tasks[:3]:
        (res,) = await space.reservations(task)
        await space.update_reservation(task, res["sid"], ReservationStatus="accepted")
    assert await space.reservations(tasks[3]) == []
    channel = await ok(emulator_http, "GET", f"{space.base}/Workers/{agent}/Channels/chat")
    assert channel["assigned_tasks"] == 3 and channel["available_capacity_percentage"] == 0
    await space.update_task(tasks[0], AssignmentStatus="completed")
    assert [r["reservation_status"] for r in await space.reservations(tasks[3])] == ["pending"]
    types = await space.event_types(start)
    assert types[0] == "worker.capacity.update" and types.count("reservation.created") == 4


async def test_a_channel_made_unavailable_gets_no_tasks(emulator_http):
    space = await new_space(emulator_http)
    wf = await space.simple_workflow(await space.queue("Q"))
    agent = await space.worker("agent")
    start = len(await space.events())
    await ok(emulator_http, "POST", f"{space.base}/Workers/{agent}/Channels/sms", data={"Available": "false"})
    task = await space.task(wf, TaskChannel="sms")
    assert await space.reservations(task) == []
    await ok(emulator_http, "POST", f"{space.base}/Workers/{agent}/Channels/sms", data={"Available": "true"})
    assert len(await space.reservations(task)) == 1
    assert (await space.event_types(start))[0] == "worker.channel.availability.update"


async def test_if_match_conflict_on_a_task_changes_nothing(emulator_http):
    space = await new_space(emulator_http)
    wf = await space.simple_workflow(await space.queue("Q"))
    task = await space.task(wf, {"v": 1})
    status, body = await space.update_task(task, headers={"If-Match": '"0"'}, Attributes='{"v": 2}')
    assert status == 200 and json.loads(body["attributes"]) == {"v": 2}
    async with emulator_http.post(f"{space.base}/Tasks/{task}", data={"Attributes": '{"v": 3}'},
                                  headers={"If-Match": '"0"'}) as resp:
        await expect_twilio_error(resp, 412, 20412)
    assert json.loads((await space.get_task(task))["attributes"]) == {"v": 2}
    async with emulator_http.delete(f"{space.base}/Tasks/{task}", headers={"If-Match": '"7"'}) as resp:
        await expect_twilio_error(resp, 412, 20412)
    async with emulator_http.delete(f"{space.base}/Tasks/{task}", headers={"If-Match": '"1"'}) as resp:
        assert resp.status == 204


async def test_actions_in_the_wrong_state_are_refused_and_change_nothing(emulator_http):
    space = await new_space(emulator_http)
    wf = await space.simple_workflow(await space.queue("Q"))
    task = await space.task(wf)
    before = len(await space.events())
    status, body = await space.update_task(task, AssignmentStatus="completed")
    assert status == 400 and body["code"] == 20001
    assert body["message"].startswith(f"Cannot complete task {task}") and "not assigned or wrapping" in body["message"]
    status, body = await space.update_task(task, AssignmentStatus="wrapping")
    assert status == 400 and "because it is not assigned" in body["message"]
    await space.worker("w")
    (res,) = await space.reservations(task)
    status, body = await space.update_reservation(task, res["sid"], ReservationStatus="completed")
    assert status == 400 and "cannot be updated to [completed]" in body["message"]
    await space.update_reservation(task, res["sid"], ReservationStatus="accepted")
    status, body = await space.update_task(task, AssignmentStatus="canceled")
    assert status == 400 and "because it is not pending or reserved" in body["message"]
    assert (await space.get_task(task))["assignment_status"] == "assigned"
    after = [t for t in await space.event_types(before) if not t.startswith("worker.")]
    assert after == ["reservation.created", "reservation.accepted"]  # the refusals recorded nothing


async def test_reservation_and_assignment_activities_in_a_single_tasking_workspace(emulator_http):
    space = await new_space(emulator_http, MultiTaskEnabled="false")
    queue = await space.queue("Q", ReservationActivitySid=space.activities["Reserved"],
                              AssignmentActivitySid=space.activities["Busy"])
    wf = await space.simple_workflow(queue)
    worker = await space.worker("w")
    task = await space.task(wf)
    assert (await ok(emulator_http, "GET", f"{space.base}/Workers/{worker}"))["activity_name"] == "Reserved"
    (res,) = await space.reservations(task)
    await space.update_reservation(task, res["sid"], ReservationStatus="accepted")
    assert (await ok(emulator_http, "GET", f"{space.base}/Workers/{worker}"))["activity_name"] == "Busy"
    second = await space.task(wf)
    await space.set_activity(worker, "Available")  # still holds the first task: single-tasking waits
    assert await space.reservations(second) == []
    await space.update_task(task, AssignmentStatus="completed")
    assert len(await space.reservations(second)) == 1


async def test_workers_list_filters_by_real_queues(emulator_http):
    space = await new_space(emulator_http)
    queue = await space.queue("English", TargetWorkers="languages HAS 'en'")
    en = await space.worker("en", {"languages": ["en"]})
    await space.worker("fr", {"languages": ["fr"]})
    for params in ({"TaskQueueSid": queue}, {"TaskQueueName": "English"}):
        body = await ok(emulator_http, "GET", f"{space.base}/Workers", params=params)
        assert [w["sid"] for w in body["workers"]] == [en]
    body = await ok(emulator_http, "GET", f"{space.base}/TaskQueues", params={"WorkerSid": en})
    assert [q["sid"] for q in body["task_queues"]] == [queue]


async def test_workflow_configuration_errors_give_the_position(emulator_http):
    space = await new_space(emulator_http)
    queue = await space.queue("Q")
    cases = [
        ('{"task_routing": {"filters": [}', "line 1 column 31"),
        (json.dumps({"task_routing": {"filters": [{"expression": "a ==", "targets": [{"queue": queue}]}]}}),
         "task_routing.filters[0].expression"),
        (json.dumps({"task_routing": {"filters": [{"expression": "1==1", "targets": [{"queue": queue,
                                                                                      "priority": "x"}]}]}}),
         "task_routing.filters[0].targets[0].priority"),
        ('{"task_routing": {"default_filter": {"queue": "WQ%s"}}}' % ("0" * 32), "not found"),
    ]
    for configuration, where in cases:
        status, body = await call(emulator_http, "POST", f"{space.base}/Workflows",
                                  data={"FriendlyName": "bad", "Configuration": configuration})
        assert status == 400 and body["code"] == 20001 and where in body["message"], body


async def test_template_fifo_makes_a_queue_and_a_workflow(emulator_http):
    ws = await ok(emulator_http, "POST", "/v1/Workspaces", data={"FriendlyName": "T", "Template": "FIFO"})
    queues = (await ok(emulator_http, "GET", f"/v1/Workspaces/{ws['sid']}/TaskQueues"))["task_queues"]
    workflows = (await ok(emulator_http, "GET", f"/v1/Workspaces/{ws['sid']}/Workflows"))["workflows"]
    assert [q["friendly_name"] for q in queues] == ["Sample Queue"]
    assert [w["friendly_name"] for w in workflows] == ["Default Fifo Workflow"]
    assert queues[0]["sid"] in workflows[0]["configuration"]
    # With one workflow, a task needs no WorkflowSid.
    task = await ok(emulator_http, "POST", f"/v1/Workspaces/{ws['sid']}/Tasks", data={"Attributes": "{}"})
    assert task["workflow_sid"] == workflows[0]["sid"] and task["task_queue_sid"] == queues[0]["sid"]


async def test_prioritize_queue_order_serves_that_kind_of_queue_first(emulator_http):
    for preferred, expected in (("FIFO", "fifo"), ("LIFO", "lifo")):
        space = await new_space(emulator_http, PrioritizeQueueOrder=preferred)
        fifo = await space.simple_workflow(await space.queue("F"), FriendlyName="f")
        lifo = await space.simple_workflow(await space.queue("L", TaskOrder="LIFO"), FriendlyName="l")
        await space.task(fifo, {"kind": "fifo"})
        await space.task(lifo, {"kind": "lifo"})
        worker = await space.worker("solo")
        (res,) = await space.worker_reservations(worker, "pending")
        assert json.loads((await space.get_task(res["task_sid"]))["attributes"])["kind"] == expected


async def test_the_etag_moves_when_routing_changes_the_task(emulator_http):
    space = await new_space(emulator_http)
    wf = await space.simple_workflow(await space.queue("Q"))
    task = await space.task(wf)
    async with emulator_http.get(f"{space.base}/Tasks/{task}") as resp:
        etag = resp.headers["ETag"]
    await space.worker("w")  # routing reserves the task for the new worker: the task changed
    assert (await space.get_task(task))["assignment_status"] == "reserved"
    async with emulator_http.post(f"{space.base}/Tasks/{task}", data={"Priority": "2"},
                                  headers={"If-Match": etag}) as resp:
        await expect_twilio_error(resp, 412, 20412)


async def test_ended_tasks_are_deleted_by_the_system_five_minutes_later(emulator_http):
    space = await new_space(emulator_http)
    wf = await space.simple_workflow(await space.queue("Q"))
    task = await space.task(wf)
    await space.update_task(task, AssignmentStatus="canceled", Reason="gone")
    start = len(await space.events())
    await space.advance(299)
    assert (await space.get_task(task))["assignment_status"] == "canceled"
    await space.advance(1)
    async with emulator_http.get(f"{space.base}/Tasks/{task}") as resp:
        await expect_twilio_error(resp, 404, 20404)
    assert await space.event_types(start) == ["task.system-deleted"]
