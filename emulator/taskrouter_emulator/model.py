"""The emulator's records. Plain dataclasses: the store owns them, handlers render them to JSON.

Contract between the store (which records events) and callbacks (which deliver them):
`Event.event_data` holds, in snake_case, exactly the callback fields that the Events Reference page lists for the event
type beyond the common ones (e.g. worker_sid, worker_name, worker_attributes, worker_activity_sid,
worker_activity_name, worker_version, operating_unit_sid, and on activity changes
worker_time_in_previous_activity, worker_time_in_previous_activity_ms, worker_previous_activity_sid).
The callback form is the common fields (EventType, AccountSid, WorkspaceSid, WorkspaceName,
EventDescription, ResourceType, ResourceSid, Timestamp, Sid, TimestampMs) plus event_data with its keys
in CamelCase (worker_sid -> WorkerSid).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Workspace:
    sid: str
    account_sid: str
    friendly_name: str
    default_activity_sid: str | None = None
    timeout_activity_sid: str | None = None
    event_callback_url: str | None = None
    events_filter: str | None = None  # comma-separated event types, as Twilio stores it
    multi_task_enabled: bool = False
    prioritize_queue_order: str = "FIFO"
    date_created: float = 0.0  # epoch seconds
    date_updated: float = 0.0


@dataclass
class Activity:
    sid: str
    account_sid: str
    workspace_sid: str
    friendly_name: str
    available: bool
    date_created: float = 0.0
    date_updated: float = 0.0


@dataclass
class Worker:
    sid: str
    account_sid: str
    workspace_sid: str
    friendly_name: str
    activity_sid: str
    attributes: str = "{}"  # the JSON string exactly as the client sent it
    version: int = 0  # bumped on every change; the ETag
    date_created: float = 0.0
    date_updated: float = 0.0
    date_status_changed: float = 0.0


@dataclass
class Event:
    sid: str
    account_sid: str
    workspace_sid: str
    event_type: str
    resource_type: str  # lower-case in REST ("worker"); callbacks capitalise it ("Worker")
    resource_sid: str
    description: str
    event_data: dict[str, str]
    event_date_ms: int
    actor_type: str = "workspace"
    actor_sid: str = ""
    source: str = "twilio"
    source_ip_address: str = "127.0.0.1"


@dataclass
class CallEvent:
    request: dict  # {"method", "url", "parameters": {snake_case: value}}
    response: dict  # {"response_code", "request_duration", "content_type", "response_body", "date_created"}


@dataclass
class Call:
    sid: str
    account_sid: str
    events: list[CallEvent] = field(default_factory=list)


# ---- task routing ------------------------------------------------------------------------------------


@dataclass
class TaskChannel:
    sid: str
    account_sid: str
    workspace_sid: str
    friendly_name: str
    unique_name: str
    channel_optimized_routing: bool | None = None
    date_created: float = 0.0
    date_updated: float = 0.0


@dataclass
class TaskQueue:
    sid: str
    account_sid: str
    workspace_sid: str
    friendly_name: str
    target_workers: str = "1==1"
    max_reserved_workers: int = 1
    task_order: str = "FIFO"
    reservation_activity_sid: str | None = None
    assignment_activity_sid: str | None = None
    date_created: float = 0.0
    date_updated: float = 0.0


@dataclass
class Workflow:
    sid: str
    account_sid: str
    workspace_sid: str
    friendly_name: str
    configuration: str
    assignment_callback_url: str | None = None
    fallback_assignment_callback_url: str | None = None
    task_reservation_timeout: int = 120
    date_created: float = 0.0
    date_updated: float = 0.0


@dataclass
class Task:
    sid: str
    account_sid: str
    workspace_sid: str
    attributes: str
    priority: int
    timeout: int  # TTL in seconds, from creation
    task_channel_sid: str
    workflow_sid: str | None
    assignment_status: str = "pending"
    task_queue_sid: str | None = None
    reason: str | None = None
    routing_target: str | None = None
    ignore_capacity: bool = False
    version: int = 0  # the ETag, bumped on every change
    date_created: float = 0.0
    date_updated: float = 0.0
    virtual_start_time: float = 0.0
    task_queue_entered_date: float | None = None
    # Routing position: the matched filter (-1: default_filter) and target index, and when the task entered
    # the workflow (targets' timeouts count from there).
    filter_index: int = -1
    target_index: int = 0
    workflow_entered: float = 0.0
    target_priority: int | None = None  # a target's priority override while the task is at that target
    seq: int = 0  # creation order, the FIFO tie-break


@dataclass
class Reservation:
    sid: str
    account_sid: str
    workspace_sid: str
    task_sid: str
    worker_sid: str
    worker_name: str
    task_queue_sid: str
    workflow_sid: str | None
    task_channel_sid: str
    reservation_status: str = "pending"
    timeout: int = 120
    date_created: float = 0.0
    date_updated: float = 0.0


@dataclass
class WorkerChannel:
    sid: str
    account_sid: str
    workspace_sid: str
    worker_sid: str
    task_channel_sid: str
    task_channel_unique_name: str
    configured_capacity: int = 1
    available: bool = True
    date_created: float = 0.0
    date_updated: float = 0.0


# What a Transaction writes: these as they are when put, routing records in their final state at commit.
Record = Workspace | Activity | Worker | Event | Call
RoutingRecord = TaskChannel | TaskQueue | Workflow | Task | Reservation | WorkerChannel
