"""@rpc covers every method of every gateway service, each with its full gRPC name fixed at import, and the
pipeline builds a handler for every method each registered service declares."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import descriptor_pool, empty_pb2

from taskrouter.gateway.v1 import (
    activity_service_pb2,
    call_event_service_pb2,
    event_service_pb2,
    worker_service_pb2,
    workspace_service_pb2,
)
from taskrouter_gateway.pipeline import Pipeline
from taskrouter_gateway.services.activities import ActivityService
from taskrouter_gateway.services.base import UpstreamServicer, full_method_name, rpc
from taskrouter_gateway.services.call_events import CallEventService
from taskrouter_gateway.services.events import EventService
from taskrouter_gateway.services.registry import SERVICE_NAMES, UPSTREAM_SERVICERS
from taskrouter_gateway.services.workers import WorkerService
from taskrouter_gateway.services.workspaces import WorkspaceService

SERVICES = [
    (ActivityService, activity_service_pb2),
    (CallEventService, call_event_service_pb2),
    (EventService, event_service_pb2),
    (WorkerService, worker_service_pb2),
    (WorkspaceService, workspace_service_pb2),
]


@pytest.mark.parametrize(("servicer", "module"), SERVICES, ids=[s.__name__ for s, _ in SERVICES])
def test_every_unary_method_is_wrapped_with_its_full_name(servicer: type, module) -> None:
    descriptor = module.DESCRIPTOR.services_by_name[servicer.__name__]
    unary = [m.name for m in descriptor.methods if not m.client_streaming and not m.server_streaming]
    assert unary, "the proto declares unary methods"
    for name in unary:
        method = getattr(servicer, name)
        assert getattr(method, "rpc_method", None) == f"/{descriptor.full_name}/{name}", name


def test_full_method_name_for_a_real_service() -> None:
    assert full_method_name(WorkerService, "ListWorkers") == "/taskrouter.gateway.v1.WorkerService/ListWorkers"


def _type_error_in(exc: BaseException) -> TypeError | None:
    # Python 3.11 wraps an error from __set_name__ in a RuntimeError; later versions raise it as is.
    while exc is not None and not isinstance(exc, TypeError):
        exc = exc.__cause__  # type: ignore[assignment]
    return exc


def test_a_servicer_not_named_after_a_proto_service_fails_at_class_creation() -> None:
    with pytest.raises((TypeError, RuntimeError)) as caught:

        class WorkerServise(UpstreamServicer):  # noqa: F841  (the typo is the point)
            @rpc
            async def GetWorker(self, request: object, context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
                return empty_pb2.Empty()

    error = _type_error_in(caught.value)
    assert error is not None and "taskrouter.gateway.v1.WorkerServise" in str(error)


def test_a_method_the_service_does_not_declare_fails_at_class_creation() -> None:
    with pytest.raises((TypeError, RuntimeError)) as caught:

        class WorkerService(UpstreamServicer):  # noqa: F841
            @rpc
            async def GetWorkers(self, request: object, context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
                return empty_pb2.Empty()

    error = _type_error_in(caught.value)
    assert error is not None and "no method GetWorkers" in str(error)


def test_the_pipeline_builds_a_handler_for_every_declared_method_of_every_registered_service() -> None:
    pipeline = Pipeline()
    servicers = [servicer(None) for servicer in UPSTREAM_SERVICERS] + [EventService(None, None, None, None)]
    built = dict(pipeline.service_handlers(servicer) for servicer in servicers)
    assert tuple(built) == SERVICE_NAMES
    for service, handlers in built.items():
        declared = descriptor_pool.Default().FindServiceByName(service).methods_by_name
        assert set(handlers) == set(declared), service
    events = built["taskrouter.gateway.v1.EventService"]
    # StreamEvents sends the fan-out's prebuilt bytes: no response serializer; the unary methods have one.
    assert events["StreamEvents"].unary_stream is not None and events["StreamEvents"].response_serializer is None
    assert events["GetEvent"].unary_unary is not None and events["GetEvent"].response_serializer is not None


def test_a_declared_method_without_an_rpc_method_fails_when_the_handlers_are_built() -> None:
    class WorkerService(UpstreamServicer):
        @rpc
        async def GetWorker(self, request: object, context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
            return empty_pb2.Empty()

    with pytest.raises(TypeError, match=r"WorkerService/\w+ has no @rpc method"):
        Pipeline().service_handlers(WorkerService(None))
