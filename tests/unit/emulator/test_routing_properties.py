"""Properties of the routing engine over random sequences of operations and clock steps (hypothesis, bounded).

Driven on the Store directly (the HTTP layer adds nothing to these rules) with a virtual clock:
- assigned (and reserved) tasks per worker channel never exceed its capacity; single-tasking: one task;
- task and reservation states move only along the documented transitions;
- every reservation ends in exactly one final state, and stays there;
- no reservation goes to a worker whose activity is unavailable or whose channel is unavailable.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskrouter_emulator.errors import TwilioApiError
from taskrouter_emulator.store import ReservationChange, TaskChange
from taskrouter_emulator.store import Store, WorkerChange

TASK_MOVES = {
    ("pending", "reserved"), ("reserved", "pending"), ("reserved", "assigned"), ("assigned", "wrapping"),
    ("assigned", "completed"), ("wrapping", "completed"), ("pending", "canceled"), ("reserved", "canceled"),
}
RESERVATION_MOVES = {
    ("pending", "accepted"), ("pending", "rejected"), ("pending", "timeout"), ("pending", "canceled"),
    ("pending", "rescinded"), ("accepted", "wrapping"), ("accepted", "completed"), ("wrapping", "completed"),
}
FINAL = {"rejected", "timeout", "canceled", "rescinded", "completed"}

operation = st.one_of(
    st.tuples(st.just("task"), st.sampled_from(["default", "chat"]), st.integers(0, 3)),
    st.tuples(st.just("activity"), st.integers(0, 2), st.booleans()),
    st.tuples(st.just("reservation"), st.integers(0, 20),
              st.sampled_from(["accepted", "rejected", "wrapping", "completed"])),
    st.tuples(st.just("task_status"), st.integers(0, 20), st.sampled_from(["canceled", "wrapping", "completed"])),
    st.tuples(st.just("channel"), st.integers(0, 2), st.integers(0, 3), st.booleans()),
    st.tuples(st.just("advance"), st.integers(1, 90), st.just(0)),
)


class World:
    def __init__(self, multitask: bool) -> None:
        self.store = Store()
        self.store.set_virtual_clock(True, 1_700_000_000.0)
        self.violations: list[str] = []
        self.store.add_listener(self._on_event)
        ws = self.store.create_workspace("P", multi_task_enabled=multitask)
        self.ws = ws.sid
        acts = {a.friendly_name: a.sid for a in self.store.list_activities(ws.sid)}
        self.available, self.offline = acts["Available"], acts["Offline"]
        # Single-tasking workspaces also move workers through the queue's Reservation/Assignment activities.
        busy = None if multitask else acts["Unavailable"]
        queue = self.store.create_task_queue(ws.sid, "Q", max_reserved_workers=2, reservation_activity_sid=busy,
                                             assignment_activity_sid=busy)
        self.workflow = self.store.create_workflow(ws.sid, "W", json.dumps({"task_routing": {"filters": [
            {"expression": "1 == 1", "targets": [{"queue": queue.sid, "timeout": 120}]}],
            "default_filter": {"queue": queue.sid}}}), task_reservation_timeout=60).sid
        self.workers = [self.store.create_worker(ws.sid, f"w{n}", activity_sid=self.available)[0].sid
                        for n in range(3)]
        self.tasks: list[str] = []
        self.task_states: dict[str, str] = {}
        self.res_states: dict[str, str] = {}
        self.holding: dict[tuple[str, str], int] = {}

    def _on_event(self, workspace, event) -> None:  # type: ignore[no-untyped-def]
        if event.event_type != "reservation.created":
            return
        space = self.store.space(workspace.sid)
        if not space.activities[event.event_data["worker_activity_sid"]].available:
            self.violations.append(f"reserved an unavailable worker: {event.event_data['worker_sid']}")
        rs = space.routing
        res = rs.reservations[event.resource_sid]
        wc = rs.worker_channels.get((res.worker_sid, res.task_channel_sid))
        if space.workspace.multi_task_enabled and wc is not None and not wc.available:
            self.violations.append(f"reserved on an unavailable channel: {wc.task_channel_unique_name}")

    def apply(self, op: tuple) -> None:
        kind = op[0]
        store, ws = self.store, self.ws
        try:
            if kind == "task":
                self.tasks.append(store.create_task(ws, task_channel=op[1], priority=op[2],
                                                    workflow_sid=self.workflow).sid)
            elif kind == "activity":
                store.update_worker(ws, self.workers[op[1]],
                                    WorkerChange(activity_sid=self.available if op[2] else self.offline))
            elif kind == "reservation":
                reservations = list(store.space(ws).routing.reservations.values())
                if reservations:
                    res = reservations[op[1] % len(reservations)]
                    store.update_reservation(ws, res.sid, ReservationChange(reservation_status=op[2]))
            elif kind == "task_status":
                if self.tasks:
                    store.update_task(ws, self.tasks[op[1] % len(self.tasks)], TaskChange(assignment_status=op[2]))
            elif kind == "channel":
                store.update_worker_channel(ws, self.workers[op[1]], "chat", op[2], op[3])
            else:
                store.advance_clock(op[1])
        except TwilioApiError as exc:
            assert exc.status in (400, 404), exc.message  # refusals are client errors, never crashes

    def check(self) -> None:
        assert not self.violations, self.violations
        space = self.store.space(self.ws)
        rs = space.routing
        for sid, task in rs.tasks.items():
            before = self.task_states.get(sid)
            if before is not None and before != task.assignment_status:
                assert (before, task.assignment_status) in TASK_MOVES, (before, task.assignment_status)
            self.task_states[sid] = task.assignment_status
        for sid, res in rs.reservations.items():
            before = self.res_states.get(sid)
            if before is not None and before != res.reservation_status:
                assert before not in FINAL, f"a final reservation moved: {before} -> {res.reservation_status}"
                assert (before, res.reservation_status) in RESERVATION_MOVES, (before, res.reservation_status)
            self.res_states[sid] = res.reservation_status
        for worker in self.workers:
            holding: dict[str, int] = {}
            for res_sid in rs.worker_reservations.get(worker, []):
                res = rs.reservations[res_sid]
                if res.reservation_status in ("pending", "accepted", "wrapping"):
                    holding[res.task_channel_sid] = holding.get(res.task_channel_sid, 0) + 1
            if not space.workspace.multi_task_enabled:
                assert sum(holding.values()) <= 1, holding
                continue
            for key in [key for key in self.holding if key[0] == worker and key[1] not in holding]:
                self.holding[key] = 0
            for channel_sid, count in holding.items():
                wc = rs.worker_channels.get((worker, channel_sid))
                capacity = wc.configured_capacity if wc is not None else 1
                # Lowering a capacity does not take tasks away; routing just adds none beyond it.
                allowed = max(capacity, self.holding.get((worker, channel_sid), 0))
                assert count <= allowed, (worker, channel_sid, count, capacity)
                self.holding[(worker, channel_sid)] = count

    def drain(self) -> None:
        """End everything: every reservation must then be in exactly one final state."""
        store, ws = self.store, self.ws
        for sid in self.tasks:
            if sid not in store.space(ws).routing.tasks:
                continue  # ended over five minutes ago: deleted by the system
            task = store.get_task(ws, sid)
            if task.assignment_status in ("pending", "reserved"):
                store.update_task(ws, sid, TaskChange(assignment_status="canceled"))
            elif task.assignment_status in ("assigned", "wrapping"):
                store.update_task(ws, sid, TaskChange(assignment_status="completed"))
        self.check()
        for sid, res in store.space(ws).routing.reservations.items():
            assert res.reservation_status in FINAL, (sid, res.reservation_status)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(multitask=st.booleans(), operations=st.lists(operation, max_size=40))
def test_random_operations_keep_the_routing_invariants(multitask, operations):
    world = World(multitask)
    for op in operations:
        world.apply(op)
        world.check()
    world.drain()
