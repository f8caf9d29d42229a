"""TaskRouter's Events catalog (the Events Reference page): the event types Twilio defines, emulated or not.

EventsFilter on a Workspace may name any of them; the emulator itself records only EMITTED.
"""

from __future__ import annotations

EMITTED = frozenset(
    {
        "workspace.created",
        "workspace.updated",
        "workspace.deleted",
        "activity.created",
        "activity.updated",
        "activity.deleted",
        "worker.created",
        "worker.activity.update",
        "worker.attributes.update",
        "worker.deleted",
        # task routing (engine/)
        "reservation.created",
        "reservation.accepted",
        "reservation.rejected",
        "reservation.timeout",
        "reservation.canceled",
        "reservation.rescinded",
        "reservation.completed",
        "reservation.wrapup",
        "task.created",
        "task.updated",
        "task.canceled",
        "task.wrapup",
        "task.completed",
        "task.deleted",
        "task.system-deleted",
        "task-channel.created",
        "task-channel.updated",
        "task-channel.deleted",
        "task-queue.created",
        "task-queue.deleted",
        "task-queue.entered",
        "task-queue.timeout",
        "task-queue.moved",
        "task-queue.expression.updated",
        "worker.capacity.update",
        "worker.channel.availability.update",
        "workflow.created",
        "workflow.updated",
        "workflow.deleted",
        "workflow.target-matched",
        "workflow.entered",
        "workflow.timeout",
        "workflow.skipped",
    }
)

# Catalog types the emulator never records: it has no telephony transfers, and reservations do not fail.
EVENT_TYPES = EMITTED | frozenset(
    {
        "reservation.failed",
        "task.transfer-initiated",
        "task.transfer-attempt-failed",
        "task.transfer-failed",
        "task.transfer-canceled",
        "task.transfer-completed",
    }
)
