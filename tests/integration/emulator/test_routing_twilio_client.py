"""Twilio's Python library drives a whole task lifecycle against the emulator: a queue and a workflow whose
assignment callback points at a local server, an available worker, a task, the signed callback with its
parameters, the reply `accept`, wrap-up and completion; the Events REST API then shows the checked-in
sequence (tests/fixtures/routing/lifecycle_events.json)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import parse_qsl

from aiohttp import web

from taskrouter_emulator.signing import SIGNATURE_HEADER, compute_signature

from .test_twilio_client import client_for

EXPECTED = json.loads((Path(__file__).parents[2] / "fixtures" / "routing" / "lifecycle_events.json").read_text())


async def start_receiver(reply: dict) -> tuple[web.AppRunner, str, asyncio.Queue]:
    received: asyncio.Queue = asyncio.Queue()

    async def assign(request: web.Request) -> web.Response:
        form = dict(parse_qsl(await request.text(), keep_blank_values=True))
        await received.put((str(request.url), request.headers.get(SIGNATURE_HEADER), form))
        return web.json_response(reply)

    app = web.Application()
    app.router.add_post("/assign", assign)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/assign", received


async def test_lifecycle_through_the_twilio_library(emulator):
    runner, url, received = await start_receiver({"instruction": "accept"})
    try:
        client = client_for(emulator)

        def set_up() -> tuple[str, str, str, str, str]:
            ws = client.taskrouter.v1.workspaces.create(friendly_name="Library lifecycle")
            workspace = client.taskrouter.v1.workspaces(ws.sid)
            available = workspace.activities.list(friendly_name="Available")[0].sid
            queue = workspace.task_queues.create(friendly_name="English", target_workers="languages HAS 'en'")
            config = {"task_routing": {"filters": [
                {"filter_friendly_name": "support", "expression": "type == 'support'",
                 "targets": [{"queue": queue.sid, "priority": 5}]}]}}
            workflow = workspace.workflows.create(
                friendly_name="Support", configuration=json.dumps(config), assignment_callback_url=url,
                task_reservation_timeout=60,
            )
            worker = workspace.workers.create(
                friendly_name="alice", attributes=json.dumps({"languages": ["en"]}), activity_sid=available
            )
            task = workspace.tasks.create(workflow_sid=workflow.sid, attributes=json.dumps({"type": "support"}))
            assert task.assignment_status in ("pending", "reserved")
            return ws.sid, queue.sid, workflow.sid, worker.sid, task.sid

        ws_sid, queue_sid, workflow_sid, worker_sid, task_sid = await asyncio.to_thread(set_up)

        callback_url, signature, form = await asyncio.wait_for(received.get(), 10)
        assert signature == compute_signature(callback_url, form, emulator.config.auth_token)
        assert form["TaskSid"] == task_sid and form["WorkerSid"] == worker_sid
        assert form["TaskQueueSid"] == queue_sid and form["WorkflowSid"] == workflow_sid
        assert form["WorkspaceSid"] == ws_sid and form["AccountSid"] == emulator.config.account_sid
        assert json.loads(form["TaskAttributes"]) == {"type": "support"}
        assert json.loads(form["WorkerAttributes"]) == {"languages": ["en"]}
        assert form["TaskPriority"] == "5" and form["TaskAge"] == "0"
        assert form["ReservationSid"].startswith("WR")
        await emulator.context.assignments.wait_idle()  # the reply has been acted on

        def finish() -> list[str]:
            workspace = client.taskrouter.v1.workspaces(ws_sid)
            reservation = workspace.tasks(task_sid).reservations(form["ReservationSid"]).fetch()
            assert reservation.reservation_status == "accepted" and reservation.worker_sid == worker_sid
            assert workspace.tasks(task_sid).fetch().assignment_status == "assigned"
            assert workspace.tasks(task_sid).update(assignment_status="wrapping").assignment_status == "wrapping"
            done = workspace.tasks(task_sid).update(assignment_status="completed", reason="resolved")
            assert done.assignment_status == "completed" and done.reason == "resolved"
            listed = workspace.workers(worker_sid).reservations.list()
            assert [r.reservation_status for r in listed] == ["completed"]
            return [event.event_type for event in workspace.events.list(minutes=60)]

        assert await asyncio.to_thread(finish) == EXPECTED["event_types"]
    finally:
        await runner.cleanup()
