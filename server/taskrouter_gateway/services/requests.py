"""Per-RPC input checks, run before any upstream call."""

from __future__ import annotations

import re
from typing import Any

from ..validation import Checker

WORKSPACE, ACTIVITY, WORKER, TASK_QUEUE = "WS", "WA", "WK", "WQ"
_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")  # a TaskChannel unique name as a path segment
TASK, WORKFLOW, RESERVATION, TASK_CHANNEL = "WT", "WW", "WR", "TC"


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


def workspace_and_name(req: Any, check: Checker | None = None) -> Checker:
    """Requests naming a resource by SID or unique name (TaskChannels, WorkerChannels) in `sid`."""
    check = check or Checker()
    check.sid("workspace_sid", req.workspace_sid, WORKSPACE, required=True)
    if not req.sid:
        check.fail("sid", "is required (a SID or a unique name)")
    else:
        unique_name(check, "sid", req.sid)
    return check


def unique_name(check: Checker, field: str, value: str) -> None:
    """A TaskChannel unique name, which also names the channel in paths (.../TaskChannels/chat)."""
    if value and (not _NAME.fullmatch(value) or value in (".", "..")):
        check.fail(field, "must be 1 to 64 letters, digits, '-', '_' or '.' (it is used as a path segment)")


def in_range(check: Checker, req: Any, field: str, low: int, high: int) -> None:
    """An `optional` integer field that, when set, must lie in low..high."""
    if req.HasField(field) and not low <= getattr(req, field) <= high:
        check.fail(field, f"must be between {low} and {high}, got {getattr(req, field)}")


def replaced_attributes(check: Checker, req: Any) -> None:
    """An `optional string attributes` on an update: when set, a JSON object string (never empty)."""
    if req.HasField("attributes"):
        check.json_object("attributes", req.attributes or "")
        if not req.attributes:
            check.fail("attributes", 'must be a JSON object string; send "{}" to clear')


def minutes_alone(check: Checker, req: Any) -> None:
    """Twilio's Worker Statistics page: "Minutes cannot be used in combination with StartDate and EndDate
    parameters". The other statistics pages and the Events page are silent; the stricter rule holds for all
    (docs/statistics.md), and the emulator answers 400 alike."""
    if req.HasField("minutes") and (req.HasField("start_date") or req.HasField("end_date")):
        check.fail("minutes", "cannot be used in combination with start_date and end_date: give one or the other")
