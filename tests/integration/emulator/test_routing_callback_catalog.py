"""Every routing event type the emulator emits reaches the EventCallbackUrl with exactly the fields of its
catalog fixture (tests/fixtures/callbacks/<type>.json, built from seed 001)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import parse_qsl

from aiohttp import web

from taskrouter_emulator.event_types import EMITTED

from .routing_kit import new_space, ok

FIXTURES = Path(__file__).parents[2] / "fixtures" / "callbacks"
NOT_EMITTED = {"reservation.failed", "task.transfer-initiated",
               "task.transfer-attempt-failed", "task.transfer-failed", "task.transfer-canceled",
               "task.transfer-completed"}


def fixture_fields(event_type: str) -> set[str]:
    return set(json.loads((FIXTURES / f"{event_type}.json").read_text())["params"])


async def test_each_routing_event_type_carries_exactly_its_catalog_fields(emulator_http):
    received: asyncio.Queue[dict[str, str]] = asyncio.Queue()

    async def receive(request: web.Request) -> web.Response:
        await received.put(dict(parse_qsl(await request.text(), keep_blank_values=True)))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/events", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/events"
    try:
        space = await new_space(emulator_http, EventCallbackUrl=url)
        http, base = emulator_http, space.base
        channel = await ok(http, "POST", f"{base}/TaskChannels", data={"FriendlyName": "Fax", "UniqueName": "fax"})
        await ok(http, "POST", f"{base}/TaskChannels/{channel['sid']}", data={"FriendlyName": "Telefax"})
        await ok(http, "DELETE", f"{base}/TaskChannels/{channel['sid']}")
        nobody = await space.queue("Nobody", TargetWorkers="x == 1")
        team = await space.queue("Team", TargetWorkers="x == 2", MaxReservedWorkers="2")
        await ok(http, "POST", f"{base}/TaskQueues/{team}", data={"TargetWorkers": "x >= 2"})
        spare = await space.queue("Spare")
        await ok(http, "DELETE", f"{base}/TaskQueues/{spare}")
        stepped = await space.workflow({"task_routing": {"filters": [{"expression": "1 == 1", "targets": [
            {"queue": nobody, "timeout": 10}, {"queue": team}]}]}}, FriendlyName="stepped")
        direct = await space.simple_workflow(team, FriendlyName="direct")
        await ok(http, "POST", f"{base}/Workflows/{direct}", data={"TaskReservationTimeout": "50"})
        ending = await space.workflow({"task_routing": {"filters": [{"expression": "1 == 1", "targets": [
            {"queue": nobody, "timeout": 5}]}]}}, FriendlyName="ending")
        skipping = await space.workflow({"task_routing": {"filters": [{"expression": "1 == 1", "targets": [
            {"queue": nobody, "skip_if": "workers.available == 0"}]}]}}, FriendlyName="skipping")
        unused = await space.simple_workflow(team, FriendlyName="unused")
        await ok(http, "DELETE", f"{base}/Workflows/{unused}")
        workers = [await space.worker(f"w{n}", {"x": 2}) for n in range(3)]
        await ok(http, "POST", f"{base}/Workers/{workers[0]}/Channels/chat", data={"Capacity": "2"})
        await ok(http, "POST", f"{base}/Workers/{workers[0]}/Channels/sms", data={"Available": "false"})

        moved = await space.task(stepped)  # nobody -> team after 10 s, reserved by two workers
        await space.advance(10)
        first, second = await space.reservations(moved, "pending")
        await space.update_reservation(moved, first["sid"], ReservationStatus="rejected")
        await space.update_reservation(moved, second["sid"], ReservationStatus="accepted")
        await space.update_task(moved, Attributes='{"note": 1}')
        await space.update_task(moved, AssignmentStatus="wrapping")
        await space.update_task(moved, AssignmentStatus="completed")
        rescinding = await space.task(direct)
        one, _ = await space.reservations(rescinding, "pending")
        await space.update_reservation(rescinding, one["sid"], ReservationStatus="accepted")
        canceled = await space.task(direct)
        await space.update_task(canceled, AssignmentStatus="canceled")
        timing_out = await space.task(direct)
        await space.advance(50)
        assert {r["reservation_status"] for r in await space.reservations(timing_out)} == {"timeout"}
        await space.task(ending)
        await space.advance(5)
        await space.task(skipping)
        doomed = await space.task(ending, Priority="1")
        await ok(http, "DELETE", f"{base}/Tasks/{doomed}")
        await space.advance(300)  # ended tasks are deleted by the system five minutes on

        wanted = {t for t in EMITTED if t.split(".")[0] in ("task", "reservation", "task-queue", "task-channel",
                                                            "workflow")}
        wanted |= {"worker.capacity.update", "worker.channel.availability.update"}
        assert not wanted & NOT_EMITTED
        seen: dict[str, dict[str, str]] = {}
        while wanted - set(seen):
            form = await asyncio.wait_for(received.get(), 10)
            seen.setdefault(form["EventType"], form)
        for event_type in sorted(wanted):
            assert set(seen[event_type]) == fixture_fields(event_type), event_type
        assert seen["task.canceled"]["TaskCanceledReason"] in ("", "Task canceled on Workflow timeout",
                                                                "Task skipped out of the Workflow")
        assert seen["reservation.created"]["WorkerSid"] in workers
        assert seen["worker.capacity.update"]["WorkerChannelPreviousCapacity"] == "1"
        assert seen["worker.capacity.update"]["WorkerChannelAvailableCapacity"] == "2"
    finally:
        await runner.cleanup()
