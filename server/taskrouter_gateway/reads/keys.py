"""What a cached answer is filed under: who asked (their partition), the REST request, and the tags that events
and writes drop it by, read from the request's path (/v1/Workspaces/{WS}/{Collection}/{Sid}/...)."""

from __future__ import annotations

import json
from collections.abc import Hashable
from contextvars import ContextVar

from ..auth import ANONYMOUS, Identity
from ..translate.rest_call import RestCall

Key = tuple[Hashable, ...]
Tag = tuple[str, ...]

# The caller of the RPC in flight, set by the pipeline's auth step; auth off: everyone is ANONYMOUS.
caller: ContextVar[Identity] = ContextVar("taskrouter_gateway_reads_caller", default=ANONYMOUS)


def partition() -> Hashable:
    """Callers that may share an answer: same scopes and same workspace allow-list, whatever their names."""
    identity = caller.get()
    return (identity.scopes, identity.workspaces)


def call_key(call: RestCall) -> Key:
    query = tuple(sorted((k, str(v)) for k, v in call.query.items())) if call.query else ()
    body = json.dumps(call.json, sort_keys=True, separators=(",", ":")) if call.json is not None else None
    return (call.base, call.method, call.path, query, body)


def _is_sid(segment: str) -> bool:
    return len(segment) == 34 and segment[:2].isalpha() and segment[:2].isupper()


def where(path: str) -> tuple[str, str, str, bool]:
    """(workspace sid, collection, resource sid, is statistics) of a TaskRouter path; '' where absent.
    '/v1/Workspaces' -> ('', '', '', False); '/v1/Workspaces/WS1/Workers/WK1/Channels' -> ('WS1', 'Workers',
    'WK1', False); '/v1/Workspaces/WS1/TaskQueues/RealTimeStatistics' -> ('WS1', 'TaskQueues', '', True)."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    statistics = parts[-1].endswith("Statistics")
    if len(parts) < 3 or parts[1] != "Workspaces":
        return "", "", "", statistics
    workspace = parts[2]
    collection = parts[3] if len(parts) > 3 and not parts[3].endswith("Statistics") else ""
    sid = parts[4] if collection and len(parts) > 4 and _is_sid(parts[4]) else ""
    return workspace, collection, sid, statistics


def tags_for(workspace: str, collection: str, sid: str, statistics: bool) -> tuple[Tag, ...]:
    """Every tag an answer about this place is dropped by (see invalidation.py for who drops which)."""
    tags: list[Tag] = [("ws", workspace), ("coll", workspace, collection)]
    tags.append(("res", workspace, collection, sid) if sid else ("list", workspace, collection))
    if statistics:
        tags.append(("stats", workspace))
    return tuple(tags)


def tags_of(path: str) -> tuple[Tag, ...]:
    return tags_for(*where(path))
