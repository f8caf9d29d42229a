"""Every servicer the app registers, each named once: its class name is its proto service's (pipeline/marks.py),
from which the pipeline builds its handlers and the app its health and reflection names."""

from __future__ import annotations

from typing import Final

from ..pipeline.marks import service_descriptor
from .activities import ActivityService
from .base import UpstreamServicer
from .call_events import CallEventService
from .events import EventService
from .reservations import ReservationService
from .statistics import StatisticsService
from .task_channels import TaskChannelService
from .task_queues import TaskQueueService
from .tasks import TaskService
from .workers import WorkerService
from .workflows import WorkflowService
from .workspaces import WorkspaceService

# Built alike, from the upstream client alone. EventService needs the event log too: the app builds it.
UPSTREAM_SERVICERS: Final[tuple[type[UpstreamServicer], ...]] = (
    ActivityService,
    WorkerService,
    WorkspaceService,
    CallEventService,
    TaskChannelService,
    TaskQueueService,
    WorkflowService,
    TaskService,
    ReservationService,
    StatisticsService,
)

SERVICE_NAMES: Final[tuple[str, ...]] = tuple(
    service_descriptor(servicer).full_name for servicer in (*UPSTREAM_SERVICERS, EventService)
)
