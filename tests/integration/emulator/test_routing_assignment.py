"""Assignment callbacks beyond `accept` (that one is in test_routing_twilio_client.py): reject with an
activity, an empty reply that leaves the decision to REST, call-handling instructions recorded as Calls, the
fallback URL, and the real-time timer (a reservation timing out with the virtual clock off)."""

from __future__ import annotations

import asyncio
from typing import Self
from urllib.parse import parse_qsl

from aiohttp import web

from .routing_kit import new_space, ok


class Receiver:
    """A local assignment callback server; each path answers with the status and JSON body given for it."""

    def __init__(self, replies: dict[str, tuple[int, object]]) -> None:
        self.replies = replies
        self.received: asyncio.Queue[tuple[str, dict[str, str]]] = asyncio.Queue()
        self.runner: web.AppRunner | None = None
        self.base = ""

    async def _handle(self, request: web.Request) -> web.Response:
        await self.received.put((request.path, dict(parse_qsl(await request.text()))))
        status, body = self.replies[request.path]
        if body is None:
            return web.Response(status=status)
        return web.json_response(body, status=status)

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/{name}", self._handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.base = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


async def settle(emulator) -> None:
    await emulator.context.assignments.wait_idle()


async def test_reject_with_an_activity(emulator, emulator_http):
    space = await new_space(emulator_http)
    async with Receiver({"/assign": (200, {"instruction": "reject", "activity_sid": space.activities["Break"]})}) as rx:
        wf = await space.simple_workflow(await space.queue("Q"), AssignmentCallbackUrl=rx.base + "/assign")
        worker = await space.worker("w")
        task = await space.task(wf)
        await settle(emulator)
    assert [r["reservation_status"] for r in await space.reservations(task)] == ["rejected"]
    assert (await ok(emulator_http, "GET", f"{space.base}/Workers/{worker}"))["activity_name"] == "Break"
    assert (await space.get_task(task))["assignment_status"] == "pending"


async def test_an_empty_reply_leaves_the_reservation_to_the_rest_api(emulator, emulator_http):
    space = await new_space(emulator_http)
    async with Receiver({"/assign": (200, {})}) as rx:
        wf = await space.simple_workflow(await space.queue("Q"), AssignmentCallbackUrl=rx.base + "/assign")
        await space.worker("w")
        task = await space.task(wf)
        await settle(emulator)
        path, form = await rx.received.get()
    assert path == "/assign" and form["TaskSid"] == task
    (res,) = await space.reservations(task)
    assert res["reservation_status"] == "pending"
    status, _ = await space.update_reservation(task, res["sid"], ReservationStatus="accepted")
    assert status == 200


async def test_call_instructions_are_accepted_and_recorded_as_calls(emulator, emulator_http):
    space = await new_space(emulator_http)
    call_sid = "CA" + "c" * 32
    reply = {"instruction": "redirect", "call_sid": call_sid, "url": "https://example.com/twiml", "accept": True}
    async with Receiver({"/assign": (200, reply)}) as rx:
        wf = await space.simple_workflow(await space.queue("Q"), AssignmentCallbackUrl=rx.base + "/assign")
        await space.worker("w")
        task = await space.task(wf)
        await settle(emulator)
    (res,) = await space.reservations(task)
    assert res["reservation_status"] == "accepted"
    account = emulator.config.account_sid
    events = await ok(emulator_http, "GET", f"/2010-04-01/Accounts/{account}/Calls/{call_sid}/Events.json")
    (recorded,) = events["events"]
    assert recorded["request"]["url"] == "https://example.com/twiml"
    assert recorded["request"]["parameters"]["instruction"] == "redirect"
    assert recorded["request"]["parameters"]["reservation_sid"] == res["sid"]


async def test_the_fallback_url_answers_when_the_first_fails(emulator, emulator_http):
    space = await new_space(emulator_http)
    async with Receiver({"/broken": (500, None), "/fallback": (200, {"instruction": "accept"})}) as rx:
        wf = await space.simple_workflow(await space.queue("Q"), AssignmentCallbackUrl=rx.base + "/broken",
                                         FallbackAssignmentCallbackUrl=rx.base + "/fallback")
        await space.worker("w")
        task = await space.task(wf)
        await settle(emulator)
        paths = [(await rx.received.get())[0], (await rx.received.get())[0]]
    assert paths == ["/broken", "/fallback"]
    assert [r["reservation_status"] for r in await space.reservations(task)] == ["accepted"]


async def test_timers_fire_in_real_time_when_the_clock_is_not_virtual(emulator_http):
    space = await new_space(emulator_http, virtual_clock=False)
    wf = await space.simple_workflow(await space.queue("Q"), TaskReservationTimeout="1")
    await space.worker("w")
    task = await space.task(wf)
    for _ in range(200):  # wait for the condition (bounded), not for a fixed time
        if [r["reservation_status"] for r in await space.reservations(task)] == ["timeout"]:
            break
        await asyncio.sleep(0.05)
    assert [r["reservation_status"] for r in await space.reservations(task)] == ["timeout"]
    clock = await ok(emulator_http, "GET", "/admin/clock")
    assert clock["virtual"] is False
