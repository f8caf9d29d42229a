"""Task routing survives a restart with the state file: channels, queues, workflows, tasks, reservations and
worker channels come back exactly, and routing carries on (open reservations keep their timers)."""

from __future__ import annotations

from pathlib import Path

from taskrouter_emulator.server import start_emulator

from .routing_kit import Space, new_space, ok
from .test_state_file import config_for, session

ROUTING_LISTS = ("TaskChannels", "TaskQueues", "Workflows", "Tasks")
LIST_KEYS = {"TaskChannels": "channels", "TaskQueues": "task_queues", "Workflows": "workflows", "Tasks": "tasks"}


async def routing_snapshot(http, space: Space, workers: list[str]) -> dict:
    state: dict = {}
    for name in ROUTING_LISTS:
        body = await ok(http, "GET", f"{space.base}/{name}", params={"PageSize": 1000})
        state[name] = body[LIST_KEYS[name]]
    for task in state["Tasks"]:
        async with http.get(f"{space.base}/Tasks/{task['sid']}") as resp:
            state[task["sid"]] = (await resp.json(), resp.headers["ETag"])
        state[task["sid"], "reservations"] = await space.reservations(task["sid"])
    for worker in workers:
        state[worker, "channels"] = (await ok(http, "GET", f"{space.base}/Workers/{worker}/Channels"))["channels"]
    return state


async def test_routing_state_survives_a_restart(tmp_path: Path):
    path = tmp_path / "state.sqlite3"
    first = await start_emulator(config_for(path))
    try:
        async with session(first) as http:
            space = await new_space(http, virtual_clock=False)
            queue = await space.queue("Q", MaxReservedWorkers="2", TaskOrder="LIFO")
            await ok(http, "POST", f"{space.base}/TaskChannels", data={"FriendlyName": "Fax", "UniqueName": "fax"})
            wf = await space.workflow({"task_routing": {"filters": [{"expression": "1 == 1", "targets": [
                {"queue": queue, "priority": 4}]}]}}, TaskReservationTimeout="600")
            workers = [await space.worker("a"), await space.worker("b")]
            await ok(http, "POST", f"{space.base}/Workers/{workers[0]}/Channels/chat", data={"Capacity": "2"})
            done = await space.task(wf, {"n": 1})
            first_res = (await space.reservations(done, "pending"))[0]
            await space.update_reservation(done, first_res["sid"], ReservationStatus="accepted")
            await space.update_task(done, AssignmentStatus="completed")
            open_task = await space.task(wf, {"n": 2})  # two pending reservations, left open
            before = await routing_snapshot(http, space, workers)
    finally:
        await first.stop()

    second = await start_emulator(config_for(path))
    try:
        async with session(second) as http:
            space = Space(http, space.sid, space.activities)
            assert await routing_snapshot(http, space, workers) == before
            # Routing carries on: accepting one open reservation rescinds the other.
            pending = await space.reservations(open_task, "pending")
            assert len(pending) == 2
            status, _ = await space.update_reservation(open_task, pending[0]["sid"], ReservationStatus="accepted")
            assert status == 200
            statuses = sorted(r["reservation_status"] for r in await space.reservations(open_task))
            assert statuses == ["accepted", "rescinded"]
            assert len(second.context.store.timers) >= 1  # the open task's TTL was re-armed
    finally:
        await second.stop()
