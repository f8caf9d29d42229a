"""Workspaces (with their default Activities, TaskChannels and, from the FIFO template, a queue and a
workflow) and Activities."""

from __future__ import annotations

from typing import Unpack

import orjson

from .. import defaults, event_log
from ..errors import bad_parameter, not_found
from ..model import Activity, Workspace
from ..sids import new_sid
from . import channels, queues, workflows
from .changes import DEFAULT_ACTIVITIES, DEFAULT_CHANNELS, WorkspaceChanges
from .space import Space
from .transaction import Transaction


def create(
    tx: Transaction,
    friendly_name: str,
    *,
    event_callback_url: str | None = None,
    events_filter: str | None = None,
    multi_task_enabled: bool = True,
    prioritize_queue_order: str = "FIFO",
    sid: str | None = None,
    template: str | None = None,
) -> Workspace:
    now = tx.clock()
    ws = Workspace(
        sid=sid or new_sid("WS"),
        account_sid=tx.registry.account_sid,
        friendly_name=friendly_name,
        event_callback_url=event_callback_url or None,
        events_filter=events_filter or None,
        multi_task_enabled=multi_task_enabled,
        prioritize_queue_order=prioritize_queue_order,
        date_created=now,
        date_updated=now,
    )
    space = Space(ws)
    tx.registry.spaces[ws.sid] = space
    tx.assign_seq(ws.sid)
    activities = []
    for index, (name, available) in enumerate(DEFAULT_ACTIVITIES, start=1):
        # The default workspace's activities get stable SIDs too, so docs and demos can name them.
        activity_sid = f"WA{ws.sid[2:-1]}{index}" if sid else new_sid("WA")
        activities.append(_add_activity(tx, space, name, available, now, sid=activity_sid))
    ws.default_activity_sid = ws.timeout_activity_sid = activities[0].sid
    tx.put("workspace", ws, None)
    tx.record(space, "workspace.created", "workspace", ws.sid, f"Workspace {ws.friendly_name} created",
              event_log.workspace_data(ws))
    for act in activities:
        tx.put("activity", act, ws.sid)
        tx.record(space, "activity.created", "activity", act.sid, f"Activity {act.friendly_name} created",
                  event_log.activity_data(act))
    add_default_channels(tx, space, now)
    if template == "FIFO":
        queue = queues.add(tx, space, "Sample Queue", "1==1", 1, "FIFO", None, None, now)
        configuration = orjson.dumps({"task_routing": {"filters": [], "default_filter": {"queue": queue.sid}}})
        workflows.add(tx, space, "Default Fifo Workflow", configuration.decode(), None, None, 120, now)
    return ws


def add_default_channels(tx: Transaction, space: Space, now: float) -> None:
    for unique_name, name in DEFAULT_CHANNELS:
        channels.add(tx, space, name, unique_name, None, now)


def default_and_timeout(space: Space) -> tuple[Activity | None, Activity | None]:
    """The workspace's default and timeout activities (for rendering their names)."""
    ws, activities = space.workspace, space.activities
    return activities.get(ws.default_activity_sid or ""), activities.get(ws.timeout_activity_sid or "")


def update(tx: Transaction, space: Space, **changes: Unpack[WorkspaceChanges]) -> Workspace:
    ws = space.workspace
    for name in ("default_activity_sid", "timeout_activity_sid"):
        activity_sid = changes.get(name)
        if activity_sid is not None and activity_sid not in space.activities:
            label = "DefaultActivitySid" if name.startswith("default") else "TimeoutActivitySid"
            raise bad_parameter(f"{label} {activity_sid} is not an Activity in Workspace {ws.sid}")
    updates = {}
    for name, value in changes.items():
        if value is None:
            continue
        if name in ("event_callback_url", "events_filter"):
            value = value or None
        if getattr(ws, name) != value:
            updates[name] = value
    if not updates:
        return ws
    for name, value in updates.items():
        setattr(ws, name, value)
    ws.date_updated = tx.clock()
    tx.put("workspace", ws, None)
    tx.record(space, "workspace.updated", "workspace", ws.sid, f"Workspace {ws.friendly_name} updated",
              event_log.workspace_data(ws))
    return ws


def delete(tx: Transaction, space: Space) -> None:
    ws = space.workspace
    del tx.registry.spaces[ws.sid]
    event = tx.record(space, "workspace.deleted", "workspace", ws.sid, f"Workspace {ws.friendly_name} deleted",
                      event_log.workspace_data(ws))
    tx.drop_space(space, event)


# ---- activities -----------------------------------------------------------------------------------------


def _add_activity(tx: Transaction, space: Space, name: str, available: bool, now: float,
                  sid: str | None = None) -> Activity:
    act = Activity(
        sid=sid or new_sid("WA"),
        account_sid=space.workspace.account_sid,
        workspace_sid=space.sid,
        friendly_name=name,
        available=available,
        date_created=now,
        date_updated=now,
    )
    space.activities[act.sid] = act
    tx.assign_seq(act.sid)
    return act


def create_activity(tx: Transaction, space: Space, friendly_name: str, available: bool) -> Activity:
    if len(space.activities) >= defaults.MAX_ACTIVITIES_PER_WORKSPACE:
        limit = defaults.MAX_ACTIVITIES_PER_WORKSPACE
        raise bad_parameter(f"Workspace {space.sid} already has the maximum of {limit} Activities")
    act = _add_activity(tx, space, friendly_name, available, tx.clock())
    tx.put("activity", act, space.sid)
    tx.record(space, "activity.created", "activity", act.sid, f"Activity {act.friendly_name} created",
              event_log.activity_data(act))
    return act


def get_activity(space: Space, sid: str) -> Activity:
    act = space.activities.get(sid)
    if act is None:
        raise not_found()
    return act


def list_activities(space: Space, friendly_name: str | None = None, available: bool | None = None) -> list[Activity]:
    return [
        act
        for act in space.activities.values()
        if (friendly_name is None or act.friendly_name == friendly_name)
        and (available is None or act.available == available)
    ]


def update_activity(tx: Transaction, space: Space, sid: str, friendly_name: str | None) -> Activity:
    act = get_activity(space, sid)
    if friendly_name is None or friendly_name == act.friendly_name:
        return act
    act.friendly_name = friendly_name
    act.date_updated = tx.clock()
    tx.put("activity", act, space.sid)
    tx.record(space, "activity.updated", "activity", act.sid, f"Activity {act.friendly_name} updated",
              event_log.activity_data(act))
    return act


def delete_activity(tx: Transaction, space: Space, sid: str) -> None:
    act = get_activity(space, sid)
    ws = space.workspace
    for role, role_sid in (
        ("DefaultActivity", ws.default_activity_sid),
        ("TimeoutActivity", ws.timeout_activity_sid),
    ):
        if role_sid == sid:
            raise bad_parameter(
                f"Activity {sid} is the {role} of Workspace {ws.sid} and cannot be deleted; "
                f"set the Workspace's {role}Sid to another Activity first"
            )
    occupants = sum(1 for worker in space.workers.values() if worker.activity_sid == sid)
    if occupants:
        raise bad_parameter(
            f"Activity {sid} cannot be deleted: {occupants} Worker(s) are in it; "
            "move them to another Activity first"
        )
    del space.activities[sid]
    tx.delete("activity", sid)
    tx.record(space, "activity.deleted", "activity", act.sid, f"Activity {act.friendly_name} deleted",
              event_log.activity_data(act))
