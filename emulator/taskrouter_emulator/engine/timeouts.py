"""Firing the routing timers that fell due (task TTL, workflow step, reservation, cleanup of ended tasks),
each in its own transaction, and moving virtual time forward through them."""

from __future__ import annotations

from ..errors import bad_parameter
from . import dispatch, transitions, walk
from .changes import REASON_TTL
from .space import FINAL_TASK, WAITING_TASK
from .timers import VirtualClock
from .transaction import Registry


def fire_due(registry: Registry) -> int:
    fired = 0
    now = registry.clock()
    while (timer := registry.timers.pop_due(now)) is not None:
        space = registry.spaces.get(timer.workspace_sid)
        if space is None:
            continue
        rs = space.routing
        with registry.transaction() as tx:
            if timer.kind == "reservation":
                res = rs.reservations.get(timer.sid)
                if res is not None and res.reservation_status == "pending":
                    transitions.end_pending(tx, space, res, "timeout", now)
                    fired += 1
            elif timer.kind == "cleanup":
                task = rs.tasks.get(timer.sid)
                if task is not None and task.assignment_status in FINAL_TASK:
                    transitions.system_delete(tx, space, task, now)
                    fired += 1
            else:
                task = rs.tasks.get(timer.sid)
                if task is None or task.assignment_status not in WAITING_TASK:
                    continue
                if timer.kind == "ttl":
                    transitions.cancel_task(tx, space, task, REASON_TTL, now)
                    fired += 1
                elif timer.kind == "step" and rs.step_gen.get(task.sid) == timer.generation:
                    walk.step_timeout(tx, space, task, now)
                    fired += 1
            dispatch.route(tx, space)
    return fired


def advance(registry: Registry, seconds: float) -> int:
    """Virtual time only: move forward, firing every timer due on the way at its own instant, in order."""
    clock = registry.clock
    if not isinstance(clock, VirtualClock):
        raise bad_parameter("The clock is real time; enable virtual time before advancing it")
    target = clock.now + seconds
    fired = 0
    while True:
        due = registry.timers.next_due()
        if due is None or due > target:
            break
        clock.now = max(clock.now, due)
        fired += fire_due(registry)
    clock.now = target
    return fired
