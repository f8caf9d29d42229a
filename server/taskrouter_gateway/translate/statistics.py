"""StatisticsService requests and the statistics resources.

Twilio's statistics JSON is read into the typed messages by their descriptors: scalars and timestamps by
name, nested objects into their messages; the two shapes that are not plain objects are converted here
(split_by_wait_time, {"<seconds>": {...}} -> a list by threshold; tasks_by_priority, string keys -> int32).
Twilio sometimes sends counts as strings ("10") and averages as floats (0.0): both become int32.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from taskrouter.gateway.v1 import statistics_pb2 as st
from taskrouter.gateway.v1 import statistics_service_pb2 as svc

from .windows import window_params
from .paging import list_call, next_token
from .rest_call import RestCall
from .values import set_timestamp

M = TypeVar("M", bound=Message)

_TIMESTAMP = "google.protobuf.Timestamp"


def _ws(req: Any) -> str:
    return f"/v1/Workspaces/{req.workspace_sid}"


def _window(req: Any) -> dict[str, object]:
    """Minutes, StartDate, EndDate, TaskChannel and (where the request has it) SplitByWaitTime."""
    query = window_params(req)
    if req.task_channel:
        query["TaskChannel"] = req.task_channel
    if "split_by_wait_time" in req.DESCRIPTOR.fields_by_name and req.split_by_wait_time:
        query["SplitByWaitTime"] = ",".join(str(seconds) for seconds in req.split_by_wait_time)
    return query


def _channel(req: Any) -> dict[str, object]:
    return {"TaskChannel": req.task_channel} if req.task_channel else {}


def _workers(req: svc.GetWorkerStatisticsRequest) -> dict[str, object]:
    query = _window(req)
    for field, param in (("task_queue_sid", "TaskQueueSid"), ("task_queue_name", "TaskQueueName"),
                         ("friendly_name", "FriendlyName")):
        if getattr(req, field):
            query[param] = getattr(req, field)
    return query


# Request type -> (path under the workspace, formatted with the request; its query parameters).
_GETS: dict[type, tuple[str, Callable[[Any], dict[str, object]]]] = {
    svc.GetWorkspaceStatisticsRequest: ("/Statistics", _window),
    svc.GetWorkspaceCumulativeStatisticsRequest: ("/CumulativeStatistics", _window),
    svc.GetWorkspaceRealTimeStatisticsRequest: ("/RealTimeStatistics", _channel),
    svc.GetTaskQueueStatisticsRequest: ("/TaskQueues/{0.task_queue_sid}/Statistics", _window),
    svc.GetTaskQueueCumulativeStatisticsRequest: ("/TaskQueues/{0.task_queue_sid}/CumulativeStatistics", _window),
    svc.GetTaskQueueRealTimeStatisticsRequest: ("/TaskQueues/{0.task_queue_sid}/RealTimeStatistics", _channel),
    svc.GetWorkerInstanceStatisticsRequest: ("/Workers/{0.worker_sid}/Statistics", _window),
    svc.GetWorkerStatisticsRequest: ("/Workers/Statistics", _workers),
    svc.GetWorkersCumulativeStatisticsRequest: ("/Workers/CumulativeStatistics", _window),
    svc.GetWorkersRealTimeStatisticsRequest: ("/Workers/RealTimeStatistics", _channel),
    svc.GetWorkflowStatisticsRequest: ("/Workflows/{0.workflow_sid}/Statistics", _window),
    svc.GetWorkflowCumulativeStatisticsRequest: ("/Workflows/{0.workflow_sid}/CumulativeStatistics", _window),
    svc.GetWorkflowRealTimeStatisticsRequest: ("/Workflows/{0.workflow_sid}/RealTimeStatistics", _channel),
}


def get_call(req: Any) -> RestCall:
    """The GET of any single statistics request (every request type but the list and the bulk form)."""
    path, query = _GETS[type(req)]
    return RestCall("GET", _ws(req) + path.format(req), query=query(req))


def task_queues_list_call(req: svc.ListTaskQueuesStatisticsRequest) -> RestCall:
    query = _window(req)
    if req.friendly_name:
        query["FriendlyName"] = req.friendly_name
    return list_call(f"{_ws(req)}/TaskQueues/Statistics", query, req.page_size, req.page_token)


def task_queues_bulk_call(req: svc.BatchGetTaskQueueRealTimeStatisticsRequest) -> RestCall:
    # A POST that only reads: marked read_only so its 429s are retried within the deadline like a GET's.
    # QueueSids is the name in the parameter table of Twilio's TaskQueue Statistics page (docs/statistics.md).
    return RestCall("POST", f"{_ws(req)}/TaskQueues/RealTimeStatistics",
                    json={"QueueSids": list(req.task_queue_sids)}, read_only=True)


# ---- JSON -> typed messages --------------------------------------------------------------------------------


def _int(value: Any) -> int:
    """A count or a number of seconds: int, float ("avg": 0.0) or a numeric string ("10"); else 0."""
    if isinstance(value, bool) or value is None:
        return 0
    try:
        number = int(round(float(value)))
    except (TypeError, ValueError, OverflowError):
        return 0
    return max(-(2**31), min(2**31 - 1, number))


def _split(target: Any, data: Any) -> None:
    if not isinstance(data, Mapping):
        return
    for threshold in sorted(data, key=_int):
        split = target.add(threshold=_int(threshold))
        sides = data[threshold] if isinstance(data[threshold], Mapping) else {}
        fill(split.below, sides.get("below"))
        fill(split.above, sides.get("above"))


def _priorities(target: Any, data: Any) -> None:
    if isinstance(data, Mapping):
        for priority, tasks in data.items():
            target[_int(priority)] = _int(tasks)


def fill(msg: M, data: Any) -> M:
    """Set `msg`'s fields from the JSON object `data` by name (absent or null: left at the default)."""
    if not isinstance(data, Mapping):
        return msg
    for fd in msg.DESCRIPTOR.fields:
        value = data.get(fd.name)
        if value is None:
            continue
        sub = fd.message_type  # None for scalars
        if fd.name == "split_by_wait_time":
            _split(getattr(msg, fd.name), value)
        elif fd.name == "tasks_by_priority":
            _priorities(getattr(msg, fd.name), value)
        elif sub is not None and sub.full_name == _TIMESTAMP:
            set_timestamp(getattr(msg, fd.name), value)
        elif sub is not None and fd.is_repeated:
            for item in value if isinstance(value, list) else ():
                fill(getattr(msg, fd.name).add(), item)
        elif sub is not None:
            fill(getattr(msg, fd.name), value)
        elif fd.type == FieldDescriptor.TYPE_INT32:
            setattr(msg, fd.name, _int(value))
        elif fd.type == FieldDescriptor.TYPE_STRING:
            setattr(msg, fd.name, value if isinstance(value, str) else str(value))
    return msg


def task_queues_list_response(body: Mapping[str, Any]) -> svc.ListTaskQueuesStatisticsResponse:
    return svc.ListTaskQueuesStatisticsResponse(
        task_queues_statistics=[fill(st.TaskQueueStatistics(), item)
                                for item in body.get("task_queues_statistics") or ()],
        next_page_token=next_token(body),
    )
