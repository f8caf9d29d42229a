"""What the engine takes and refuses: change requests, list filters, the error for an action in the wrong
state, and the reasons it writes on tasks it cancels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from ..errors import TwilioApiError, bad_parameter
from ..expression import Predicate

DEFAULT_CHANNELS = (("default", "Default"), ("voice", "Voice"), ("sms", "SMS"), ("chat", "Chat"), ("video", "Video"))
DEFAULT_TASK_TIMEOUT = 86_400
MAX_TASK_TIMEOUT = 2_592_000
REASON_TTL = "Task TTL Exceeded"
REASON_WORKFLOW_TIMEOUT = "Task canceled on Workflow timeout"
REASON_SKIPPED = "Task skipped out of the Workflow"
REASON_NO_FILTER = "Task matched no Workflow filter and the Workflow has no default_filter"


def wrong_state(message: str) -> TwilioApiError:
    """An action in the wrong state: Twilio answers 400 with code 20001 and a message naming the states."""
    return bad_parameter(message)


class WorkspaceChanges(TypedDict, total=False):
    """A Workspace update; None leaves a field as it is, "" clears event_callback_url and events_filter."""

    friendly_name: str | None
    event_callback_url: str | None
    events_filter: str | None
    default_activity_sid: str | None
    timeout_activity_sid: str | None
    multi_task_enabled: bool | None
    prioritize_queue_order: str | None


class QueueChanges(TypedDict, total=False):
    """A TaskQueue update; None leaves a field as it is."""

    friendly_name: str | None
    target_workers: str | None
    reservation_activity_sid: str | None
    assignment_activity_sid: str | None
    max_reserved_workers: int | None
    task_order: str | None


class WorkflowChanges(TypedDict, total=False):
    """A Workflow update; None leaves a field as it is, "" clears the two callback URLs."""

    friendly_name: str | None
    configuration: str | None
    assignment_callback_url: str | None
    fallback_assignment_callback_url: str | None
    task_reservation_timeout: int | None


DEFAULT_ACTIVITIES = (("Offline", False), ("Unavailable", False), ("Available", True))
ORDERINGS = ("DateStatusChanged:asc", "DateStatusChanged:desc")


@dataclass(frozen=True)
class WorkerFilters:
    activity_name: str | None = None
    activity_sid: str | None = None
    available: bool | None = None
    friendly_name: str | None = None
    expression: Predicate | None = None
    task_queue_name: str | None = None
    task_queue_sid: str | None = None
    ordering: str | None = None  # one of ORDERINGS


@dataclass
class WorkerChange:
    activity_sid: str | None = None
    attributes: str | None = None
    friendly_name: str | None = None
    reject_pending_reservations: bool | None = None


@dataclass
class TaskChange:
    attributes: str | None = None
    assignment_status: str | None = None
    reason: str | None = None
    priority: int | None = None
    task_channel: str | None = None
    virtual_start_time: float | None = None


@dataclass
class ReservationChange:
    reservation_status: str | None = None
    instruction: str | None = None
    worker_activity_sid: str | None = None
    post_work_activity_sid: str | None = None
    instruction_parameters: dict[str, str] | None = None  # every other form field, recorded for call-ish ones


@dataclass(frozen=True)
class TaskFilters:
    priority: int | None = None
    assignment_status: tuple[str, ...] = ()
    workflow_sid: str | None = None
    workflow_name: str | None = None
    task_queue_sid: str | None = None
    task_queue_name: str | None = None
    expression: Predicate | None = None
    routing_target: str | None = None


CALL_INSTRUCTIONS = frozenset({"dequeue", "call", "redirect", "conference"})

