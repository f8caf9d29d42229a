"""The registry that holds every workspace, and the transaction each change runs in.

Every mutation validates first and changes state after, inside one Transaction: a refused request leaves
nothing behind, and a successful one reaches the state file and the event listeners exactly once, when
the transaction commits. The engine's modules take the open Transaction and change records through it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..errors import not_found
from ..model import Call, Event, Record, RoutingRecord, Workspace
from ..persistence import Row, StateFile
from ..sids import new_sid
from .persist import KIND_OF
from .space import Space
from .timers import TimerHeap

log = logging.getLogger(__name__)

Listener = Callable[[Workspace, Event], None]
Clock = Callable[[], float]


class Registry:
    """Everything the emulator holds: the workspaces, the recorded calls, the creation order of every record
    (the stable list order), the clock and the routing timers."""

    def __init__(self, account_sid: str, clock: Clock, state_file: StateFile | None) -> None:
        self.account_sid = account_sid
        self.clock = clock  # replaceable so tests can move time forward without sleeping
        self.state_file = state_file
        self.spaces: dict[str, Space] = {}
        self.calls: dict[str, Call] = {}
        self.seq: dict[str, int] = {}  # sid -> creation order
        self.next_seq = 1
        self.timers = TimerHeap()
        self.timer_wakeup: Callable[[], None] | None = None  # set by the app: wakes the real-time timer task
        self.listeners: list[Listener] = []
        self._open: Transaction | None = None

    def space(self, workspace_sid: str) -> Space:
        space = self.spaces.get(workspace_sid)
        if space is None:
            raise not_found()
        return space

    def schedule(self, due: float, kind: str, workspace_sid: str, sid: str, generation: int = 0) -> None:
        self.timers.push(due, kind, workspace_sid, sid, generation)
        if self.timer_wakeup is not None:
            self.timer_wakeup()

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One change. Opened while another is open, it joins that one (it commits with it)."""
        if self._open is not None:
            yield self._open
            return
        tx = self._open = Transaction(self)
        try:
            yield tx
            tx.flush()
        finally:
            self._open = None
        tx.notify()


class Transaction:
    """The changes of one request (or one timer): rows for the state file and events for the listeners."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._persist = registry.state_file is not None
        self._puts: list[Row] = []
        self._deletes: list[tuple[str, str]] = []
        self._dropped_spaces: list[str] = []
        self._emitted: list[tuple[Workspace, Event]] = []
        self._dirty: dict[str, RoutingRecord] = {}  # sid -> routing record to write when the transaction commits

    def clock(self) -> float:
        return self.registry.clock()

    # ---- records -----------------------------------------------------------------------------------

    def assign_seq(self, sid: str) -> int:
        registry = self.registry
        seq = registry.next_seq
        registry.next_seq += 1
        registry.seq[sid] = seq
        return seq

    def put(self, kind: str, record: Record, workspace_sid: str | None) -> None:
        """Write the record's current state to the state file now (routing records go through save)."""
        if self._persist:
            self._puts.append(Row(kind, record.sid, workspace_sid, self.registry.seq[record.sid],
                                  dataclasses.asdict(record)))

    def save(self, *records: RoutingRecord) -> None:
        """Mark routing records changed; their final state is written when the transaction commits."""
        if self._persist:
            for record in records:
                self._dirty[record.sid] = record

    def delete(self, kind: str, sid: str) -> None:
        self.registry.seq.pop(sid, None)
        if self._persist:
            self._deletes.append((kind, sid))

    def drop_space(self, space: Space, deletion: Event) -> None:
        """A deleted workspace takes everything in it along, its log included; `deletion` (its last event)
        still reaches the listeners but is not written."""
        sid = space.sid
        self._puts = [row for row in self._puts if row.sid != deletion.sid]
        rs = space.routing
        routing_sids = [*rs.channels, *rs.queues, *rs.workflows, *rs.tasks, *rs.reservations]
        for record_sid in [sid, *space.activities, *space.workers, *(e.sid for e in space.events), *routing_sids]:
            self.registry.seq.pop(record_sid, None)
        self.registry.timers.drop_workspace(sid)
        if self._persist:
            self._dropped_spaces.append(sid)
            self._deletes.append(("workspace", sid))

    def schedule(self, due: float, kind: str, workspace_sid: str, sid: str, generation: int = 0) -> None:
        self.registry.schedule(due, kind, workspace_sid, sid, generation)

    # ---- events ------------------------------------------------------------------------------------

    def record(
        self,
        space: Space,
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
            event_date_ms=self.now_ms(),
            actor_type="workspace",
            actor_sid=ws.sid,
        )
        self.assign_seq(event.sid)
        space.events.append(event)
        self.put("event", event, ws.sid)
        self.prune(space)
        self._emitted.append((ws, event))
        return event

    def prune(self, space: Space) -> None:
        """Events past their retention leave the log."""
        for sid in space.events.prune(self.now_ms()):
            self.delete("event", sid)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # ---- commit ------------------------------------------------------------------------------------

    def flush(self) -> None:
        dirty, self._dirty = self._dirty, {}
        for sid, record in dirty.items():
            if sid in self.registry.seq:  # deleted later in the same change: its delete row wins
                self._puts.append(Row(KIND_OF[type(record)], sid, record.workspace_sid, self.registry.seq[sid],
                                      dataclasses.asdict(record)))
        state_file = self.registry.state_file
        if state_file is not None and (self._puts or self._deletes or self._dropped_spaces):
            state_file.write(self._puts, self._deletes, self._dropped_spaces)

    def notify(self) -> None:
        """After the commit: each listener sees each event; a listener's failure undoes nothing."""
        for workspace, event in self._emitted:
            for listener in self.registry.listeners:
                try:
                    listener(workspace, event)
                except Exception:
                    log.exception("event listener failed for %s", event.sid)
