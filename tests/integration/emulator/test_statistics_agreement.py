"""Agreement: after a random scenario of task and worker operations with clock steps, every cumulative counter
equals the count of its events in the window from the Events API, and every real-time figure equals the state
read through the list endpoints (bounded hypothesis: a few examples, each on a fresh emulator)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import aiohttp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskrouter_emulator.config import EmulatorConfig
from taskrouter_emulator.render import iso
from taskrouter_emulator.server import start_emulator
from taskrouter_emulator.testing import account_auth_header

from .routing_kit import call, ok
from .statistics_kit import Contact, actual_cumulative, contact_centre, count, events_in, expected_cumulative

OPS = ("task", "task", "accept", "reject", "complete", "cancel", "delete", "activity", "advance", "advance")
LIVE = ("pending", "reserved", "assigned", "wrapping")


async def _tasks(c: Contact, **params: Any) -> list[dict[str, Any]]:
    return (await c.get("/Tasks", PageSize=1000, **params))["tasks"]


async def _pending_reservations(c: Contact) -> list[tuple[str, str]]:
    found = []
    for worker in c.workers:
        for res in await c.space.worker_reservations(worker, "pending"):
            found.append((res["task_sid"], res["sid"]))
    return found


async def _step(c: Contact, op: str, n: int) -> None:
    space = c.space
    if op == "task":
        await space.task(c.wf, Priority=str(n % 3), TaskChannel="voice" if n % 2 else "default")
    elif op in ("accept", "reject"):
        pending = await _pending_reservations(c)
        if pending:
            task, res = pending[n % len(pending)]
            await space.update_reservation(task, res, ReservationStatus="accepted" if op == "accept" else "rejected")
    elif op == "complete":
        assigned = await _tasks(c, AssignmentStatus="assigned")
        if assigned:
            await space.update_task(assigned[n % len(assigned)]["sid"], AssignmentStatus="completed", Reason="done")
    elif op == "cancel":
        waiting = await _tasks(c, AssignmentStatus="pending,reserved")
        if waiting:
            await space.update_task(waiting[n % len(waiting)]["sid"], AssignmentStatus="canceled", Reason="gone")
    elif op == "delete":
        every = await _tasks(c)
        if every:
            await ok(space.http, "DELETE", f"{c.base}/Tasks/{every[n % len(every)]['sid']}")
    elif op == "activity":
        await space.set_activity(c.workers[n % 3], "Available" if n % 2 else "Offline")
    else:
        await space.advance(5 + 10 * n)


async def _check_cumulative(c: Contact, window: dict[str, Any]) -> None:
    http = c.space.http
    every = await events_in(http, c.base, **window)
    body = await c.get("/CumulativeStatistics", **window)
    assert actual_cumulative(body) == expected_cumulative(every)
    assert body["tasks_created"] == count(every, "task.created")
    assert body["tasks_timed_out_in_workflow"] == count(every, "workflow.timeout")

    for queue in (c.q1, c.q2):
        events = await events_in(http, c.base, TaskQueueSid=queue, **window)
        body = await c.get(f"/TaskQueues/{queue}/CumulativeStatistics", **window)
        assert actual_cumulative(body) == expected_cumulative(events, "task_queue_sid", queue)
        assert body["tasks_entered"] == count(events, "task-queue.entered")

    events = await events_in(http, c.base, WorkflowSid=c.wf, **window)
    body = await c.get(f"/Workflows/{c.wf}/CumulativeStatistics", **window)
    assert actual_cumulative(body) == expected_cumulative(events, "workflow_sid", c.wf)
    assert body["tasks_entered"] == count(events, "workflow.entered")
    assert body["tasks_timed_out_in_workflow"] == count(events, "workflow.timeout")

    body = await c.get("/Workers/CumulativeStatistics", **window)
    reservations = {k: v for k, v in expected_cumulative(every).items() if k.startswith("reservations_")}
    assert {k: body[k] for k in reservations} == reservations
    for worker in c.workers:
        events = await events_in(http, c.base, WorkerSid=worker, **window)
        stats = (await c.get(f"/Workers/{worker}/Statistics", **window))["cumulative"]
        mine = {k: v for k, v in expected_cumulative(events, "worker_sid", worker).items() if k in reservations}
        assert {k: stats[k] for k in mine} == mine
        spent = Counter()
        for e in events:
            if e["event_type"] == "worker.activity.update":
                spent[e["event_data"]["worker_previous_activity_sid"]] += (
                    int(e["event_data"]["worker_time_in_previous_activity_ms"]) // 1000)
        assert {d["sid"]: d["total"] for d in stats["activity_durations"] if d["total"]} == +spent


async def _check_realtime(c: Contact) -> None:
    live = await _tasks(c, AssignmentStatus=",".join(LIVE))

    def task_figures(tasks: list[dict[str, Any]], body: dict[str, Any]) -> None:
        assert body["tasks_by_status"] == {s: sum(1 for t in tasks if t["assignment_status"] == s) for s in LIVE}
        assert body["tasks_by_priority"] == {str(p): n for p, n in Counter(t["priority"] for t in tasks).items()}
        assert body["total_tasks"] == len(tasks)
        waiting = [t for t in tasks if t["assignment_status"] in ("pending", "reserved")]
        oldest = max((t["age"] for t in waiting), default=0)
        assert body["longest_task_waiting_age"] == oldest
        if waiting:
            assert body["longest_task_waiting_sid"] in {t["sid"] for t in waiting if t["age"] == oldest}
        else:
            assert body["longest_task_waiting_sid"] is None

    async def workers(**params: Any) -> list[dict[str, Any]]:
        return (await c.get("/Workers", PageSize=1000, **params))["workers"]

    body = await c.get("/RealTimeStatistics")
    task_figures(live, body)
    everyone = await workers()
    assert body["total_workers"] == len(everyone)
    by_activity = Counter(w["activity_sid"] for w in everyone)
    assert {a["sid"]: a["workers"] for a in body["activity_statistics"] if a["workers"]} == by_activity

    for queue in (c.q1, c.q2):
        body = await c.get(f"/TaskQueues/{queue}/RealTimeStatistics")
        task_figures([t for t in live if t["task_queue_sid"] == queue], body)
        members = await workers(TaskQueueSid=queue)
        assert body["total_eligible_workers"] == len(members)
        assert body["total_available_workers"] == len(await workers(TaskQueueSid=queue, Available="true"))
        assert ({a["sid"]: a["workers"] for a in body["activity_statistics"] if a["workers"]}
                == Counter(w["activity_sid"] for w in members))

    body = await c.get(f"/Workflows/{c.wf}/RealTimeStatistics")
    task_figures([t for t in live if t["workflow_sid"] == c.wf], body)
    body = await c.get("/Workers/RealTimeStatistics")
    assert body["total_workers"] == len(everyone)


async def _scenario(steps: list[tuple[str, int]]) -> None:
    emulator = await start_emulator(EmulatorConfig(host="127.0.0.1", port=0))
    try:
        async with aiohttp.ClientSession(base_url=emulator.base_url,
                                         headers=account_auth_header(emulator.config)) as http:
            c = await contact_centre(http)
            started = (await ok(http, "GET", "/admin/clock"))["now"]
            for op, n in steps:
                await _step(c, op, n)
            now = (await ok(http, "GET", "/admin/clock"))["now"]
            await _check_cumulative(c, {"Minutes": 43_200})
            middle = started + (now - started) / 2
            await _check_cumulative(c, {"StartDate": iso(middle), "EndDate": iso(now)})
            await _check_realtime(c)
            status, _ = await call(http, "GET", f"{c.base}/CumulativeStatistics", params={"Minutes": "0"})
            assert status == 400
    finally:
        await emulator.stop()


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 9)), min_size=4, max_size=24))
def test_statistics_agree_with_events_and_state(steps):
    asyncio.run(_scenario(steps))
