"""Per-RPC input checks, run before any upstream call."""

from __future__ import annotations

from typing import Any

from ..validation import Checker

WORKSPACE, ACTIVITY, WORKER, TASK_QUEUE = "WS", "WA", "WK", "WQ"


def sid_pair(req: Any, sid_prefix: str) -> None:
    """Get/Delete-style requests: a workspace and the resource's own sid."""
    check = Checker()
    check.sid("workspace_sid", req.workspace_sid, WORKSPACE, required=True)
    check.sid("sid", req.sid, sid_prefix, required=True)
    check.done()


def list_request(req: Any, check: Checker | None = None, *, workspace: bool = True) -> Checker:
    check = check or Checker()
    if workspace:
        check.sid("workspace_sid", req.workspace_sid, WORKSPACE, required=True)
    check.page_size(req.page_size)
    return check
