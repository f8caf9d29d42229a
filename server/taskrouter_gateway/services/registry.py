"""Every REST-backed servicer the app registers, with its generated registration function and its proto
service (for health and reflection). EventService is not here: it is a generic handler beside its stream."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf.descriptor import ServiceDescriptor
from taskrouter.gateway.v1 import (
    activity_service_pb2,
    activity_service_pb2_grpc,
    call_event_service_pb2,
    call_event_service_pb2_grpc,
    reservation_service_pb2,
    reservation_service_pb2_grpc,
    statistics_service_pb2,
    statistics_service_pb2_grpc,
    task_channel_service_pb2,
    task_channel_service_pb2_grpc,
    task_queue_service_pb2,
    task_queue_service_pb2_grpc,
    task_service_pb2,
    task_service_pb2_grpc,
    worker_service_pb2,
    worker_service_pb2_grpc,
    workflow_service_pb2,
    workflow_service_pb2_grpc,
    workspace_service_pb2,
    workspace_service_pb2_grpc,
)

from .activities import ActivityService
from .call_events import CallEventService
from .reservations import ReservationService
from .statistics import StatisticsService
from .task_channels import TaskChannelService
from .task_queues import TaskQueueService
from .tasks import TaskService
from .workers import WorkerService
from .workflows import WorkflowService
from .workspaces import WorkspaceService

# (servicer class, add_<Service>Servicer_to_server, service descriptor)
UPSTREAM_SERVICERS: tuple[tuple[type, Callable[[Any, Any], None], ServiceDescriptor], ...] = (
    (ActivityService, activity_service_pb2_grpc.add_ActivityServiceServicer_to_server,
     activity_service_pb2.DESCRIPTOR.services_by_name["ActivityService"]),
    (WorkerService, worker_service_pb2_grpc.add_WorkerServiceServicer_to_server,
     worker_service_pb2.DESCRIPTOR.services_by_name["WorkerService"]),
    (WorkspaceService, workspace_service_pb2_grpc.add_WorkspaceServiceServicer_to_server,
     workspace_service_pb2.DESCRIPTOR.services_by_name["WorkspaceService"]),
    (CallEventService, call_event_service_pb2_grpc.add_CallEventServiceServicer_to_server,
     call_event_service_pb2.DESCRIPTOR.services_by_name["CallEventService"]),
    (TaskChannelService, task_channel_service_pb2_grpc.add_TaskChannelServiceServicer_to_server,
     task_channel_service_pb2.DESCRIPTOR.services_by_name["TaskChannelService"]),
    (TaskQueueService, task_queue_service_pb2_grpc.add_TaskQueueServiceServicer_to_server,
     task_queue_service_pb2.DESCRIPTOR.services_by_name["TaskQueueService"]),
    (WorkflowService, workflow_service_pb2_grpc.add_WorkflowServiceServicer_to_server,
     workflow_service_pb2.DESCRIPTOR.services_by_name["WorkflowService"]),
    (TaskService, task_service_pb2_grpc.add_TaskServiceServicer_to_server,
     task_service_pb2.DESCRIPTOR.services_by_name["TaskService"]),
    (ReservationService, reservation_service_pb2_grpc.add_ReservationServiceServicer_to_server,
     reservation_service_pb2.DESCRIPTOR.services_by_name["ReservationService"]),
    (StatisticsService, statistics_service_pb2_grpc.add_StatisticsServiceServicer_to_server,
     statistics_service_pb2.DESCRIPTOR.services_by_name["StatisticsService"]),
)
