"""The Store's task-routing half: TaskChannels, TaskQueues, Workflows, Tasks, Reservations, WorkerChannels,
the routing pass and the timers. Mixed into state.Store, whose plumbing (_space, _change, _record, clock)
it uses; the same rule holds: validate first, change after, inside one `_change()`.

Event order within one transition is fixed and documented in docs/routing-events.md.
"""

from __future__ import annotations

from .changes import (
    CALL_INSTRUCTIONS,
    MAX_TASK_TIMEOUT,
    ReservationChange,
    TaskChange,
    TaskFilters,
    wrong_state,
)
from .dispatch import DispatchMixin

__all__ = [
    "CALL_INSTRUCTIONS",
    "MAX_TASK_TIMEOUT",
    "ReservationChange",
    "RoutingStore",
    "TaskChange",
    "TaskFilters",
    "wrong_state",
]


class RoutingStore(DispatchMixin):
    """The Store's task-routing half, mixed into state.Store."""
