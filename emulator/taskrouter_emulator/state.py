"""The Store: every record and every TaskRouter rule. Handlers parse parameters (params.py) and call
it; it raises TwilioApiError for anything TaskRouter would refuse, and records an Event for each change.

Every mutation validates first and changes state after, inside `_change()`: a refused request leaves
nothing behind, and a successful one reaches the state file and the event listeners exactly once.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson

from . import defaults, event_log
from .errors import NOT_FOUND, PRECONDITION_FAILED, TwilioApiError, bad_parameter
from .event_log import EventFilters, EventLog
from .expression import Predicate
from .model import Activity, Call, CallEvent, Event, Worker, Workspace
from .persistence import Row, StateFile
from .routing.space import RoutingSpace
from .routing.store import RoutingStore
from .sids import new_sid

log = logging.getLogger(__name__)

Listener = Callable[[Workspace, Event], None]

DEFAULT_ACTIVITIES = (("Offline", False), ("Unavailable", False), ("Available", True))
ORDERINGS = ("DateStatusChanged:asc", "DateStatusChanged:desc")


def not_found(message: str = "") -> TwilioApiError:
    # An empty message is filled in by the error middleware with Twilio's "The requested resource
    # {path} was not found", which names the request path the store does not know.
    return TwilioApiError(404, NOT_FOUND, message)


@dataclass(frozen=True)
class WorkerFilters:
    activity_name: str | None = None
    activity_sid: str | None = None
    available: bool | None = None
    friendly_name: str | None = None
    expression: Predicate | None = None
    task_queue_name: str | None = None
    task_queue_sid: str | None = None
    ordering: str | None = None  # one of ORDERINGS


@dataclass
class WorkerChange:
    activity_sid: str | None = None
    attributes: str | None = None
    friendly_name: str | None = None
    reject_pending_reservations: bool | None = None


class _Space:
    """One workspace and everything in it."""

    __slots__ = ("workspace", "activities", "workers", "names", "events", "parsed_attributes", "routing")

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.activities: dict[str, Activity] = {}
        self.workers: dict[str, Worker] = {}
        self.names: dict[str, str] = {}  # casefolded worker friendly_name -> worker sid
        self.events = EventLog()
        self.parsed_attributes: dict[str, dict[str, Any]] = {}  # worker sid -> parsed Attributes, lazily
        self.routing = RoutingSpace()  # task channels, queues, workflows, tasks, reservations (routing/)


def _row(kind: str, record: Any, workspace_sid: str | None, seq: int) -> Row:
    return Row(kind, record.sid, workspace_sid, seq, dataclasses.asdict(record))


def etag_matches(if_match: str | None, version: int) -> bool:
    """RFC 7232 If-Match against the worker's version; quoted, bare and weak (W/) tags all compare by value."""
    if if_match is None:
        return True
    for tag in if_match.split(","):
        tag = tag.strip()
        if tag == "*":
            return True
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag.strip('"') == str(version):
            return True
    return False


class Store(RoutingStore):
    def __init__(
        self,
        account_sid: str = defaults.DEFAULT_ACCOUNT_SID,
        default_workspace_sid: str = defaults.DEFAULT_WORKSPACE_SID,
        *,
        state_file: StateFile | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.account_sid = account_sid
        self.default_workspace_sid = default_workspace_sid
        self.clock = clock  # replaceable so tests can move time forward without sleeping
        self._state_file = state_file
        self._spaces: dict[str, _Space] = {}
        self._calls: dict[str, Call] = {}
        self._seq: dict[str, int] = {}  # sid -> creation order, the stable list order
        self._next_seq = 1
        self._listeners: list[Listener] = []
        self._puts: list[Row] = []
        self._deletes: list[tuple[str, str]] = []
        self._dropped_spaces: list[str] = []
        self._emitted: list[tuple[Workspace, Event]] = []
        self._init_routing()
        self._previous_activity: dict[str, tuple[str, float]] = {}  # between an activity move and its event
        if state_file is not None:
            self._load(state_file)
        if default_workspace_sid not in self._spaces:
            self.create_workspace(defaults.DEFAULT_WORKSPACE_NAME, sid=default_workspace_sid)

    # ---- plumbing -------------------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        """`listener(workspace, event)` runs after each recorded event is stored; it must not block."""
        self._listeners.append(listener)

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _assign_seq(self, sid: str) -> int:
        seq = self._next_seq
        self._next_seq += 1
        self._seq[sid] = seq
        return seq

    def _put(self, kind: str, record: Any, workspace_sid: str | None) -> None:
        if self._state_file is not None:
            self._puts.append(_row(kind, record, workspace_sid, self._seq[record.sid]))

    def _delete(self, kind: str, sid: str) -> None:
        self._seq.pop(sid, None)
        if self._state_file is not None:
            self._deletes.append((kind, sid))

    @contextmanager
    def _change(self) -> Iterator[None]:
        try:
            yield
            if self._routing_dirty:
                self._flush_routing()
            if self._state_file is not None and (self._puts or self._deletes or self._dropped_spaces):
                self._state_file.write(self._puts, self._deletes, self._dropped_spaces)
            emitted = self._emitted
        finally:
            self._puts, self._deletes, self._dropped_spaces, self._emitted = [], [], [], []
            self._routing_dirty = {}
        for workspace, event in emitted:
            for listener in self._listeners:
                try:
                    listener(workspace, event)
                except Exception:  # a listener's failure must not undo or fail the change
                    log.exception("event listener failed for %s", event.sid)

    def _record(
        self,
        space: _Space,
        event_type: str,
        resource_type: str,
        resource_sid: str,
        description: str,
        event_data: dict[str, str],
    ) -> Event:
        ws = space.workspace
        event = Event(
            sid=new_sid("EV"),
            account_sid=ws.account_sid,
            workspace_sid=ws.sid,
            event_type=event_type,
            resource_type=resource_type,
            resource_sid=resource_sid,
            description=description,
            event_data=event_data,
            event_date_ms=self._now_ms(),
            actor_type="workspace",
            actor_sid=ws.sid,
        )
        self._assign_seq(event.sid)
        space.events.append(event)
        self._put("event", event, ws.sid)
        self._prune(space)
        self._emitted.append((ws, event))
        return event

    def _prune(self, space: _Space) -> None:
        for sid in space.events.prune(self._now_ms()):
            self._delete("event", sid)

    def _load(self, state_file: StateFile) -> None:
        max_seq = 0
        routing_rows: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for row in state_file.load():
            max_seq = max(max_seq, row.seq)
            self._seq[row.sid] = row.seq
            data = row.data
            if row.kind == "workspace":
                self._spaces[row.sid] = _Space(Workspace(**data))
            elif row.kind == "call":
                events = [CallEvent(**event) for event in data.pop("events")]
                self._calls[row.sid] = Call(**data, events=events)
            else:
                space = self._spaces.get(row.workspace_sid or "")
                if space is None:
                    continue  # an orphan of a workspace deleted mid-write; ignore it
                if row.kind == "activity":
                    space.activities[row.sid] = Activity(**data)
                elif row.kind == "worker":
                    worker = Worker(**data)
                    space.workers[row.sid] = worker
                    space.names[worker.friendly_name.casefold()] = worker.sid
                elif row.kind == "event":
                    space.events.append(Event(**data))
                else:  # task routing records, rebuilt together below (they index each other)
                    routing_rows.setdefault(space.workspace.sid, []).append((row.kind, data))
        self._next_seq = max_seq + 1
        for sid, space in self._spaces.items():
            self._load_routing(space, routing_rows.get(sid, []))

    def _space(self, workspace_sid: str) -> _Space:
        space = self._spaces.get(workspace_sid)
        if space is None:
            raise not_found()
        return space

    # ---- workspaces -----------------------------------------------------------------------------------

    def create_workspace(
        self,
        friendly_name: str,
        *,
        event_callback_url: str | None = None,
        events_filter: str | None = None,
        multi_task_enabled: bool = True,
        prioritize_queue_order: str = "FIFO",
        sid: str | None = None,
        template: str | None = None,
    ) -> Workspace:
        now = self.clock()
        ws = Workspace(
            sid=sid or new_sid("WS"),
            account_sid=self.account_sid,
            friendly_name=friendly_name,
            event_callback_url=event_callback_url or None,
            events_filter=events_filter or None,
            multi_task_enabled=multi_task_enabled,
            prioritize_queue_order=prioritize_queue_order,
            date_created=now,
            date_updated=now,
        )
        with self._change():
            space = _Space(ws)
            self._spaces[ws.sid] = space
            self._assign_seq(ws.sid)
            activities = []
            for index, (name, available) in enumerate(DEFAULT_ACTIVITIES, start=1):
                # The default workspace's activities get stable SIDs too, so docs and demos can name them.
                activity_sid = f"WA{ws.sid[2:-1]}{index}" if sid else new_sid("WA")
                activities.append(self._add_activity(space, name, available, now, sid=activity_sid))
            ws.default_activity_sid = ws.timeout_activity_sid = activities[0].sid
            self._put("workspace", ws, None)
            self._record(
                space,
                "workspace.created",
                "workspace",
                ws.sid,
                f"Workspace {ws.friendly_name} created",
                event_log.workspace_data(ws),
            )
            for act in activities:
                self._put("activity", act, ws.sid)
                self._record(
                    space,
                    "activity.created",
                    "activity",
                    act.sid,
                    f"Activity {act.friendly_name} created",
                    event_log.activity_data(act),
                )
            self._routing_workspace_created(space, now, template)
        return ws

    def get_workspace(self, sid: str) -> Workspace:
        return self._space(sid).workspace

    def list_workspaces(self, friendly_name: str | None = None) -> list[Workspace]:
        return [
            space.workspace
            for space in self._spaces.values()
            if friendly_name is None or space.workspace.friendly_name == friendly_name
        ]

    def workspace_activities(self, ws: Workspace) -> tuple[Activity | None, Activity | None]:
        """The workspace's default and timeout activities (for rendering their names)."""
        activities = self._space(ws.sid).activities
        return activities.get(ws.default_activity_sid or ""), activities.get(ws.timeout_activity_sid or "")

    def update_workspace(self, sid: str, **changes: Any) -> Workspace:
        """changes: friendly_name, event_callback_url, events_filter ("" clears these two),
        default_activity_sid, timeout_activity_sid, multi_task_enabled, prioritize_queue_order."""
        space = self._space(sid)
        ws = space.workspace
        for name in ("default_activity_sid", "timeout_activity_sid"):
            activity_sid = changes.get(name)
            if activity_sid is not None and activity_sid not in space.activities:
                label = "DefaultActivitySid" if name.startswith("default") else "TimeoutActivitySid"
                raise bad_parameter(f"{label} {activity_sid} is not an Activity in Workspace {sid}")
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
        with self._change():
            for name, value in updates.items():
                setattr(ws, name, value)
            ws.date_updated = self.clock()
            self._put("workspace", ws, None)
            self._record(
                space,
                "workspace.updated",
                "workspace",
                ws.sid,
                f"Workspace {ws.friendly_name} updated",
                event_log.workspace_data(ws),
            )
        return ws

    def delete_workspace(self, sid: str) -> None:
        space = self._space(sid)
        ws = space.workspace
        with self._change():
            del self._spaces[sid]
            event = self._record(
                space,
                "workspace.deleted",
                "workspace",
                ws.sid,
                f"Workspace {ws.friendly_name} deleted",
                event_log.workspace_data(ws),
            )
            # Everything in the workspace goes with it, its log included; the deletion event still
            # reaches the listeners (callbacks) through _emitted.
            self._puts = [row for row in self._puts if row.sid != event.sid]
            rs = space.routing
            routing_sids = [*rs.channels, *rs.queues, *rs.workflows, *rs.tasks, *rs.reservations]
            for record_sid in [sid, *space.activities, *space.workers, *(e.sid for e in space.events), *routing_sids]:
                self._seq.pop(record_sid, None)
            self.timers.drop_workspace(sid)
            if self._state_file is not None:
                self._dropped_spaces.append(sid)
                self._deletes.append(("workspace", sid))

    # ---- activities -----------------------------------------------------------------------------------

    def _add_activity(self, space: _Space, name: str, available: bool, now: float, sid: str | None = None) -> Activity:
        act = Activity(
            sid=sid or new_sid("WA"),
            account_sid=space.workspace.account_sid,
            workspace_sid=space.workspace.sid,
            friendly_name=name,
            available=available,
            date_created=now,
            date_updated=now,
        )
        space.activities[act.sid] = act
        self._assign_seq(act.sid)
        return act

    def create_activity(self, workspace_sid: str, friendly_name: str, available: bool) -> Activity:
        space = self._space(workspace_sid)
        if len(space.activities) >= defaults.MAX_ACTIVITIES_PER_WORKSPACE:
            limit = defaults.MAX_ACTIVITIES_PER_WORKSPACE
            raise bad_parameter(f"Workspace {workspace_sid} already has the maximum of {limit} Activities")
        with self._change():
            act = self._add_activity(space, friendly_name, available, self.clock())
            self._put("activity", act, workspace_sid)
            self._record(
                space,
                "activity.created",
                "activity",
                act.sid,
                f"Activity {act.friendly_name} created",
                event_log.activity_data(act),
            )
        return act

    def get_activity(self, workspace_sid: str, sid: str) -> Activity:
        act = self._space(workspace_sid).activities.get(sid)
        if act is None:
            raise not_found()
        return act

    def list_activities(
        self, workspace_sid: str, friendly_name: str | None = None, available: bool | None = None
    ) -> list[Activity]:
        return [
            act
            for act in self._space(workspace_sid).activities.values()
            if (friendly_name is None or act.friendly_name == friendly_name)
            and (available is None or act.available == available)
        ]

    def update_activity(self, workspace_sid: str, sid: str, friendly_name: str | None) -> Activity:
        space = self._space(workspace_sid)
        act = self.get_activity(workspace_sid, sid)
        if friendly_name is None or friendly_name == act.friendly_name:
            return act
        with self._change():
            act.friendly_name = friendly_name
            act.date_updated = self.clock()
            self._put("activity", act, workspace_sid)
            self._record(
                space,
                "activity.updated",
                "activity",
                act.sid,
                f"Activity {act.friendly_name} updated",
                event_log.activity_data(act),
            )
        return act

    def delete_activity(self, workspace_sid: str, sid: str) -> None:
        space = self._space(workspace_sid)
        act = self.get_activity(workspace_sid, sid)
        ws = space.workspace
        for role, role_sid in (
            ("DefaultActivity", ws.default_activity_sid),
            ("TimeoutActivity", ws.timeout_activity_sid),
        ):
            if role_sid == sid:
                raise bad_parameter(
                    f"Activity {sid} is the {role} of Workspace {workspace_sid} and cannot be deleted; "
                    f"set the Workspace's {role}Sid to another Activity first"
                )
        occupants = sum(1 for worker in space.workers.values() if worker.activity_sid == sid)
        if occupants:
            raise bad_parameter(
                f"Activity {sid} cannot be deleted: {occupants} Worker(s) are in it; "
                "move them to another Activity first"
            )
        with self._change():
            del space.activities[sid]
            self._delete("activity", sid)
            self._record(
                space,
                "activity.deleted",
                "activity",
                act.sid,
                f"Activity {act.friendly_name} deleted",
                event_log.activity_data(act),
            )

    # ---- workers --------------------------------------------------------------------------------------

    def _activity_param(self, space: _Space, activity_sid: str) -> Activity:
        act = space.activities.get(activity_sid)
        if act is None:
            raise bad_parameter(f"ActivitySid {activity_sid} is not an Activity in Workspace {space.workspace.sid}")
        return act

    def _check_name_free(self, space: _Space, friendly_name: str, own_sid: str | None = None) -> None:
        holder = space.names.get(friendly_name.casefold())
        if holder is not None and holder != own_sid:
            raise bad_parameter(
                f"A Worker named {friendly_name!r} already exists in Workspace {space.workspace.sid} "
                "(Worker names are unique, ignoring case)"
            )

    def create_worker(
        self, workspace_sid: str, friendly_name: str, activity_sid: str | None = None, attributes: str | None = None
    ) -> tuple[Worker, Activity]:
        space = self._space(workspace_sid)
        ws = space.workspace
        act = self._activity_param(space, activity_sid or ws.default_activity_sid or "")
        self._check_name_free(space, friendly_name)
        if len(space.workers) >= defaults.MAX_WORKERS_PER_WORKSPACE:
            raise bad_parameter(
                f"Workspace {workspace_sid} already has the maximum of {defaults.MAX_WORKERS_PER_WORKSPACE} Workers"
            )
        now = self.clock()
        worker = Worker(
            sid=new_sid("WK"),
            account_sid=ws.account_sid,
            workspace_sid=workspace_sid,
            friendly_name=friendly_name,
            activity_sid=act.sid,
            attributes=attributes if attributes is not None else "{}",
            version=0,
            date_created=now,
            date_updated=now,
            date_status_changed=now,
        )
        with self._change():
            space.workers[worker.sid] = worker
            space.names[friendly_name.casefold()] = worker.sid
            self._assign_seq(worker.sid)
            self._put("worker", worker, workspace_sid)
            self._record(
                space,
                "worker.created",
                "worker",
                worker.sid,
                f"Worker {friendly_name} created",
                event_log.worker_data(worker, act),
            )
            self._worker_changed(space, worker, attributes=True, now=now)
        return worker, act

    def get_worker(self, workspace_sid: str, sid: str) -> tuple[Worker, Activity]:
        space = self._spaces.get(workspace_sid)
        worker = space.workers.get(sid) if space is not None else None
        if worker is None:
            raise not_found()
        return worker, space.activities[worker.activity_sid]  # type: ignore[union-attr]

    def update_worker(
        self, workspace_sid: str, sid: str, change: WorkerChange, if_match: str | None = None
    ) -> tuple[Worker, Activity]:
        space = self._space(workspace_sid)
        worker, current = self.get_worker(workspace_sid, sid)
        if not etag_matches(if_match, worker.version):
            raise TwilioApiError(
                412,
                PRECONDITION_FAILED,
                f'If-Match {if_match} does not match the current version of Worker {sid} (ETag "{worker.version}")',
            )
        new_activity = self._activity_param(space, change.activity_sid) if change.activity_sid else current
        if change.friendly_name is not None:
            self._check_name_free(space, change.friendly_name, own_sid=sid)
        if change.reject_pending_reservations and new_activity.available:
            raise bad_parameter(
                "RejectPendingReservations is only valid when the Worker's new Activity is unavailable "
                f"(Activity {new_activity.friendly_name} is available)"
            )
        activity_changed = new_activity.sid != worker.activity_sid
        attributes_changed = change.attributes is not None and change.attributes != worker.attributes
        name_changed = change.friendly_name is not None and change.friendly_name != worker.friendly_name
        if not (activity_changed or attributes_changed or name_changed):
            return worker, current
        now = self.clock()
        with self._change():
            if name_changed:
                del space.names[worker.friendly_name.casefold()]
                worker.friendly_name = change.friendly_name  # type: ignore[assignment]
                space.names[worker.friendly_name.casefold()] = sid
            if change.reject_pending_reservations:
                self._reject_pending_of_worker(space, worker, now)
            if activity_changed:
                self._set_worker_activity(space, worker, new_activity, bump=False)
            if attributes_changed:
                worker.attributes = change.attributes  # type: ignore[assignment]
                space.parsed_attributes.pop(sid, None)
            worker.version += 1
            worker.date_updated = now
            self._put("worker", worker, workspace_sid)
            if activity_changed:
                self._record_activity_update(space, worker, new_activity)
            if attributes_changed:
                self._record(
                    space,
                    "worker.attributes.update",
                    "worker",
                    sid,
                    f"Worker {worker.friendly_name} updated attributes",
                    event_log.worker_data(worker, new_activity),
                )
            self._worker_changed(space, worker, attributes=attributes_changed, now=now)
        return worker, new_activity

    def _set_worker_activity(self, space: _Space, worker: Worker, activity: Activity, *, bump: bool = True) -> None:
        """Move a worker to another activity. With bump (a move routing makes, not a REST update), the
        version and update date move too and the worker.activity.update event is recorded here."""
        now = self.clock()
        self._previous_activity[worker.sid] = (worker.activity_sid, worker.date_status_changed)
        worker.activity_sid = activity.sid
        worker.date_status_changed = now
        if bump:
            worker.version += 1
            worker.date_updated = now
            self._put("worker", worker, worker.workspace_sid)
            self._record_activity_update(space, worker, activity)

    def _record_activity_update(self, space: _Space, worker: Worker, activity: Activity) -> None:
        previous_sid, previous_since = self._previous_activity.pop(worker.sid)
        elapsed_ms = max(0, int(round((worker.date_status_changed - previous_since) * 1000)))
        self._record(
            space,
            "worker.activity.update",
            "worker",
            worker.sid,
            f"Worker {worker.friendly_name} updated to {activity.friendly_name} Activity",
            event_log.worker_activity_data(worker, activity, previous_sid, elapsed_ms),
        )

    def _worker_view(self, space: _Space, worker: Worker) -> dict[str, Any]:
        """The worker's parsed Attributes (cached until they change); routing expressions read these."""
        parsed = space.parsed_attributes.get(worker.sid)
        if parsed is None:
            parsed = space.parsed_attributes[worker.sid] = orjson.loads(worker.attributes)
        return parsed

    def delete_worker(self, workspace_sid: str, sid: str, if_match: str | None = None) -> None:
        space = self._space(workspace_sid)
        worker, act = self.get_worker(workspace_sid, sid)
        if not etag_matches(if_match, worker.version):
            raise TwilioApiError(
                412,
                PRECONDITION_FAILED,
                f'If-Match {if_match} does not match the current version of Worker {sid} (ETag "{worker.version}")',
            )
        self._worker_deleting(space, worker)
        with self._change():
            del space.workers[sid]
            self._worker_deleted(space, sid)
            del space.names[worker.friendly_name.casefold()]
            space.parsed_attributes.pop(sid, None)
            self._delete("worker", sid)
            self._record(
                space,
                "worker.deleted",
                "worker",
                sid,
                f"Worker {worker.friendly_name} deleted",
                event_log.worker_data(worker, act),
            )

    def _expression_view(self, space: _Space, worker: Worker, act: Activity) -> dict[str, Any]:
        view = dict(self._worker_view(space, worker))
        view.update(
            sid=worker.sid, friendly_name=worker.friendly_name, activity_sid=act.sid, activity_name=act.friendly_name
        )
        return view

    def list_workers(self, workspace_sid: str, filters: WorkerFilters) -> list[tuple[Worker, Activity]]:
        """Matching workers with their activities, in creation order or by DateStatusChanged."""
        space = self._space(workspace_sid)
        members = None
        if filters.task_queue_sid is not None or filters.task_queue_name is not None:
            members = self.queue_member_sids(workspace_sid, filters.task_queue_sid, filters.task_queue_name)
        folded_name = filters.friendly_name.casefold() if filters.friendly_name is not None else None
        activities = space.activities
        result = []
        for worker in space.workers.values():
            if members is not None and worker.sid not in members:
                continue
            act = activities[worker.activity_sid]
            if filters.activity_sid is not None and worker.activity_sid != filters.activity_sid:
                continue
            if filters.activity_name is not None and act.friendly_name != filters.activity_name:
                continue
            if filters.available is not None and act.available != filters.available:
                continue
            if folded_name is not None and worker.friendly_name.casefold() != folded_name:
                continue
            if filters.expression is not None and not filters.expression(self._expression_view(space, worker, act)):
                continue
            result.append((worker, act))
        if filters.ordering is not None:
            descending = filters.ordering.endswith(":desc")
            result.sort(key=lambda pair: (pair[0].date_status_changed, self._seq[pair[0].sid]), reverse=descending)
        return result

    def sort_key(self, sid: str) -> int:
        return self._seq[sid]

    # ---- events ---------------------------------------------------------------------------------------

    def get_event(self, workspace_sid: str, sid: str) -> Event:
        space = self._space(workspace_sid)
        with self._change():
            self._prune(space)
        event = space.events.get(sid)
        if event is None:
            raise not_found()
        return event

    def list_events(self, workspace_sid: str, filters: EventFilters) -> list[Event]:
        space = self._space(workspace_sid)
        with self._change():
            self._prune(space)
        return [event for event in space.events if filters.matches(event)]

    # ---- calls (Voice Call Events; recorded through the admin API) -------------------------------------

    def create_call(self, events: list[CallEvent], sid: str | None = None) -> Call:
        call_sid = sid or new_sid("CA")
        with self._change():
            call = self._calls.get(call_sid)
            if call is None:
                call = self._calls[call_sid] = Call(sid=call_sid, account_sid=self.account_sid)
                self._assign_seq(call_sid)
            call.events.extend(events)
            self._put("call", call, None)
        return call

    def get_call(self, account_sid: str, sid: str) -> Call:
        call = self._calls.get(sid)
        if call is None or account_sid != self.account_sid:
            raise not_found()
        return call

    # ---- sanity ---------------------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Record counts (for admin and tests)."""
        return {
            "workspaces": len(self._spaces),
            "activities": sum(len(s.activities) for s in self._spaces.values()),
            "workers": sum(len(s.workers) for s in self._spaces.values()),
            "events": sum(len(s.events) for s in self._spaces.values()),
            "calls": len(self._calls),
            "task_queues": sum(len(s.routing.queues) for s in self._spaces.values()),
            "workflows": sum(len(s.routing.workflows) for s in self._spaces.values()),
            "tasks": sum(len(s.routing.tasks) for s in self._spaces.values()),
            "reservations": sum(len(s.routing.reservations) for s in self._spaces.values()),
            "pending_timers": len(self.timers),
        }
