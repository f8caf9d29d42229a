"""Per-workspace facts for cumulative statistics: the events that count, reduced to tuples and kept in time
order, so a window is two bisects and a fold over a slice (30 days of 100,000 events in tens of ms).

The index follows the store as a listener (every recorded event reaches it once, in recording order); a
workspace's facts are first read from its log, at its first event after start-up or its first statistics
request, whichever comes first. Pruning follows the log: a fact whose event
the log no longer holds (past retention or the size cap) is dropped before a fold.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Any, NamedTuple

from ..errors import TwilioApiError
from ..event_log import EventFilters
from ..model import Event, Workspace

RESERVATION_KINDS = ("created", "accepted", "rejected", "timeout", "canceled", "rescinded")
TRACKED = frozenset(
    {f"reservation.{kind}" for kind in RESERVATION_KINDS}
    | {
        "task.created", "task.canceled", "task.completed", "task.deleted",
        "task-queue.entered", "task-queue.moved", "workflow.entered", "workflow.timeout",
        "worker.activity.update",
    }
)
_TASK_ENDS = frozenset({"task.canceled", "task.completed", "task.deleted"})
_CHANNEL_SET = frozenset({"task.created", "task.updated"})  # where a task's channel is (re)read from the store


class Fact(NamedTuple):
    ms: int
    kind: str  # the event type
    task: str
    queue: str
    workflow: str
    worker: str
    wait: int  # seconds: the task's age (accepted, canceled); the previous activity's length (activity update)
    in_queue: int  # reservation.accepted: seconds since the task entered its queue
    activity: str  # worker.activity.update: the previous activity's sid
    channel: str  # the task's TaskChannel sid ("" when unknown)
    event_sid: str


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


class WorkspaceFacts:
    __slots__ = ("times", "facts", "entered", "channels", "last_seq")

    def __init__(self, channels: dict[str, str]) -> None:
        self.times: list[int] = []
        self.facts: list[Fact] = []
        self.entered: dict[str, int] = {}  # task sid -> when it last entered a queue (ms), while it lives
        self.channels = channels  # task sid -> task channel sid while the task exists (shared with the index)
        self.last_seq = 0  # the store's sequence number of the last event read

    def add(self, event: Event) -> None:
        kind = event.event_type
        if kind not in TRACKED:
            return
        data = event.event_data
        task = data.get("task_sid", "")
        in_queue = wait = 0
        activity = ""
        if kind == "task-queue.entered":
            self.entered[task] = event.event_date_ms
        elif kind == "reservation.accepted":
            wait = _int(data.get("task_age"))
            since = self.entered.get(task)
            in_queue = max(0, (event.event_date_ms - since) // 1000) if since is not None else wait
        elif kind == "task.canceled":
            wait = _int(data.get("task_age"))
        elif kind == "worker.activity.update":
            wait = _int(data.get("worker_time_in_previous_activity_ms")) // 1000
            activity = data.get("worker_previous_activity_sid", "")
        channel = self.channels.get(task, "")
        if kind in _TASK_ENDS:
            self.entered.pop(task, None)
        if kind == "task.deleted":
            self.channels.pop(task, None)  # nothing is recorded for a task after its deletion
        fact = Fact(event.event_date_ms, kind, task, data.get("task_queue_sid", ""), data.get("workflow_sid", ""),
                    data.get("worker_sid", ""), wait, in_queue, activity, channel, event.sid)
        if not self.times or fact.ms >= self.times[-1]:
            self.times.append(fact.ms)
            self.facts.append(fact)
        else:  # the virtual clock was set back: keep time order
            at = bisect_right(self.times, fact.ms)
            self.times.insert(at, fact.ms)
            self.facts.insert(at, fact)

    def between(self, start_ms: int, end_ms: int | None) -> list[Fact]:
        lo = bisect_left(self.times, start_ms)
        hi = len(self.times) if end_ms is None else bisect_right(self.times, end_ms)
        return self.facts[lo:hi]

    def drop_oldest(self, count: int) -> None:
        del self.times[:count]
        del self.facts[:count]


class StatisticsIndex:
    """Attach with `store.add_listener(index.on_event)`; read with `index.facts(workspace_sid)`."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._spaces: dict[str, WorkspaceFacts] = {}
        self._channels: dict[str, dict[str, str]] = {}  # workspace sid -> task sid -> channel sid

    def on_event(self, workspace: Workspace, event: Event) -> None:
        if event.event_type == "workspace.deleted":
            self._spaces.pop(workspace.sid, None)
            self._channels.pop(workspace.sid, None)
            return
        if event.event_type in _CHANNEL_SET:
            self._remember_channel(workspace.sid, event.resource_sid)
        facts = self._spaces.get(workspace.sid)
        if facts is None:
            # Follow the workspace from now on, so each task's channel is read while the task exists.
            self._build(workspace.sid)
        else:
            seq = self._seq(event.sid)
            if seq > facts.last_seq:  # not already read from the log by _build
                facts.add(event)
                facts.last_seq = seq

    def _seq(self, event_sid: str) -> int:
        """The store's recording sequence number of an event; 0 for one the log has already pruned."""
        try:
            return int(self._store.sort_key(event_sid))
        except KeyError:
            return 0

    def _remember_channel(self, workspace_sid: str, task_sid: str) -> None:
        try:
            task = self._store.get_task(workspace_sid, task_sid)
        except TwilioApiError:
            return  # gone already (deleted in the same change); its events count without a channel
        self._channels.setdefault(workspace_sid, {})[task_sid] = task.task_channel_sid

    def _build(self, workspace_sid: str) -> WorkspaceFacts:
        """Facts from the log as it is (events recorded before the index followed the workspace, e.g. loaded
        from a state file: the channel of a task already deleted then is unknown)."""
        channels = self._channels.setdefault(workspace_sid, {})
        facts = WorkspaceFacts(channels)
        for event in self._store.list_events(workspace_sid, EventFilters(start_ms=0)):
            if event.event_type in _CHANNEL_SET and event.resource_sid not in channels:
                self._remember_channel(workspace_sid, event.resource_sid)
            facts.add(event)
            facts.last_seq = max(facts.last_seq, self._seq(event.sid))
        self._spaces[workspace_sid] = facts
        return facts

    def facts(self, workspace_sid: str) -> WorkspaceFacts:
        """The workspace's facts, pruned like its log (the caller has checked the workspace exists)."""
        facts = self._spaces.get(workspace_sid)
        if facts is None:
            return self._build(workspace_sid)
        # The log prunes its oldest events first, so the pruned facts are a prefix.
        gone = 0
        while gone < len(facts.facts) and not self._in_log(workspace_sid, facts.facts[gone].event_sid):
            gone += 1
        if gone:
            facts.drop_oldest(gone)
        return facts

    def _in_log(self, workspace_sid: str, event_sid: str) -> bool:
        try:
            self._store.get_event(workspace_sid, event_sid)  # prunes the log first, as the Events API does
        except TwilioApiError:
            return False
        return True
