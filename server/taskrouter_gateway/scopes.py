"""The one table from RPC to the scope a caller needs for it. A test checks that every RPC of every service
in the protos has a row, so a new RPC cannot go unguarded. Health and reflection are not here: they stay open.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

READ: Final = "read"  # Get and List
WRITE: Final = "write"  # Create, Update, Delete, Backfill, ConfigureEventCallback
EVENTS: Final = "events"  # StreamEvents
SCOPES: Final = frozenset({READ, WRITE, EVENTS})

_P = "/taskrouter.gateway.v1."

METHOD_SCOPES: Final[Mapping[str, str]] = MappingProxyType(
    {
        _P + "ActivityService/GetActivity": READ,
        _P + "ActivityService/ListActivities": READ,
        _P + "ActivityService/CreateActivity": WRITE,
        _P + "ActivityService/UpdateActivity": WRITE,
        _P + "ActivityService/DeleteActivity": WRITE,
        _P + "CallEventService/ListCallEvents": READ,
        _P + "EventService/GetEvent": READ,
        _P + "EventService/ListEvents": READ,
        _P + "EventService/StreamEvents": EVENTS,
        _P + "EventService/BackfillEvents": WRITE,
        _P + "EventService/ConfigureEventCallback": WRITE,
        _P + "WorkerService/GetWorker": READ,
        _P + "WorkerService/ListWorkers": READ,
        _P + "WorkerService/CreateWorker": WRITE,
        _P + "WorkerService/UpdateWorker": WRITE,
        _P + "WorkerService/DeleteWorker": WRITE,
        _P + "WorkspaceService/GetWorkspace": READ,
        _P + "WorkspaceService/ListWorkspaces": READ,
        _P + "WorkspaceService/CreateWorkspace": WRITE,
        _P + "WorkspaceService/UpdateWorkspace": WRITE,
        _P + "WorkspaceService/DeleteWorkspace": WRITE,
    }
)


def scope_of(full_method: str) -> str:
    """The scope for '/package.Service/Method'; KeyError for an RPC missing from the table (a bug)."""
    return METHOD_SCOPES[full_method]
