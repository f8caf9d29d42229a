"""The task-routing services (issue 13), as the app registers them: servicer class, the generated
registration function, and the proto service descriptor (for health and reflection)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf.descriptor import ServiceDescriptor
from taskrouter.gateway.v1 import (
    reservation_service_pb2,
    reservation_service_pb2_grpc,
    task_channel_service_pb2,
    task_channel_service_pb2_grpc,
    task_queue_service_pb2,
    task_queue_service_pb2_grpc,
    task_service_pb2,
    task_service_pb2_grpc,
    workflow_service_pb2,
    workflow_service_pb2_grpc,
)

from .reservations import ReservationService
from .task_channels import TaskChannelService
from .task_queues import TaskQueueService
from .tasks import TaskService
from .workflows import WorkflowService

ROUTING_SERVICERS: tuple[tuple[Callable[[Any, Any], None], type], ...] = (
    (task_channel_service_pb2_grpc.add_TaskChannelServiceServicer_to_server, TaskChannelService),
    (task_queue_service_pb2_grpc.add_TaskQueueServiceServicer_to_server, TaskQueueService),
    (workflow_service_pb2_grpc.add_WorkflowServiceServicer_to_server, WorkflowService),
    (task_service_pb2_grpc.add_TaskServiceServicer_to_server, TaskService),
    (reservation_service_pb2_grpc.add_ReservationServiceServicer_to_server, ReservationService),
)

ROUTING_SERVICES: tuple[ServiceDescriptor, ...] = (
    task_channel_service_pb2.DESCRIPTOR.services_by_name["TaskChannelService"],
    task_queue_service_pb2.DESCRIPTOR.services_by_name["TaskQueueService"],
    workflow_service_pb2.DESCRIPTOR.services_by_name["WorkflowService"],
    task_service_pb2.DESCRIPTOR.services_by_name["TaskService"],
    reservation_service_pb2.DESCRIPTOR.services_by_name["ReservationService"],
)
