"""Which events a StreamEvents subscriber wants: validated from its request, matched per event. Pure.

Matching runs once per (event, subscriber), so it works on `EventRefs`, a small record extracted once per
event, and on patterns precomputed when the stream opens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from taskrouter.gateway.v1 import event_pb2, event_service_pb2

from ..validation import Checker, InvalidArgument

# One dotted segment of a TaskRouter event type: "worker", "task-queue", "target-matched", "update".
_SEGMENT = r"[a-z0-9]+(?:[-_][a-z0-9]+)*"
_EXACT: Final = re.compile(rf"{_SEGMENT}(?:\.{_SEGMENT})*")
_PREFIX: Final = re.compile(rf"(?P<prefix>{_SEGMENT}(?:\.{_SEGMENT})*\.)\*")
MAX_EVENT_TYPES: Final = 100
MAX_EVENT_TYPE_CHARS: Final = 128

# (request field, SID prefix) of each single-SID filter; the field name is also the EventRefs attribute.
SID_FILTERS: Final = (
    ("worker_sid", "WK"),
    ("task_sid", "WT"),
    ("task_queue_sid", "WQ"),
    ("workflow_sid", "WW"),
    ("reservation_sid", "WR"),
)
_ANY_SID: Final = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")


@dataclass(frozen=True, slots=True)
class EventRefs:
    """What filters look at, taken once from an event (empty string = the event does not carry it)."""

    workspace_sid: str
    event_type: str
    resource_sid: str = ""
    worker_sid: str = ""
    task_sid: str = ""
    task_queue_sid: str = ""
    workflow_sid: str = ""
    reservation_sid: str = ""

    @classmethod
    def from_event(cls, event: event_pb2.Event) -> EventRefs:
        return cls(
            workspace_sid=event.workspace_sid or event.workspace.workspace_sid,
            event_type=event.event_type,
            resource_sid=event.resource_sid,
            worker_sid=event.worker.worker_sid,
            task_sid=event.task.task_sid,
            task_queue_sid=event.task_queue.task_queue_sid,
            workflow_sid=event.workflow.workflow_sid,
            reservation_sid=event.reservation.reservation_sid,
        )


def _check_event_type(checker: Checker, index: int, pattern: str) -> None:
    field = "event_types"
    if pattern == "*":
        return
    if not pattern:
        checker.fail(field, f"[{index}] is empty; use an exact type, a prefix like 'worker.*', or '*'")
    elif len(pattern) > MAX_EVENT_TYPE_CHARS:
        checker.fail(field, f"[{index}] is longer than {MAX_EVENT_TYPE_CHARS} characters")
    elif not (_EXACT.fullmatch(pattern) or _PREFIX.fullmatch(pattern)):
        checker.fail(
            field,
            f"[{index}] {pattern!r} is not an event type: use lowercase dotted names exactly "
            "('worker.created'), a prefix wildcard ending in '.*' ('worker.*', 'worker.channel.*') or '*'",
        )


@dataclass(frozen=True, slots=True)
class EventFilter:
    """All set parts must match (AND); `exact_types`/`type_prefixes` match if either does (OR)."""

    workspace_sid: str
    all_types: bool = True
    exact_types: frozenset[str] = frozenset()
    type_prefixes: tuple[str, ...] = ()  # each ends with "."
    # (refs attribute, wanted value) for every SID filter that is set, resource_sid included.
    sids: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_request(cls, request: event_service_pb2.StreamEventsRequest) -> EventFilter:
        """Validates every filter field; raises InvalidArgument naming each bad field."""
        checker = Checker()
        checker.sid("workspace_sid", request.workspace_sid, "WS", required=True)
        if len(request.event_types) > MAX_EVENT_TYPES:
            checker.fail("event_types", f"at most {MAX_EVENT_TYPES} patterns, got {len(request.event_types)}")
        else:
            for index, pattern in enumerate(request.event_types):
                _check_event_type(checker, index, pattern)
        if request.resource_sid and not _ANY_SID.fullmatch(request.resource_sid):
            checker.fail("resource_sid", "must be a SID: two capital letters followed by 32 hex digits")
        for field, prefix in SID_FILTERS:
            checker.sid(field, getattr(request, field), prefix)
        checker.done()

        patterns = set(request.event_types)
        sids = tuple(
            (field, getattr(request, field))
            for field in ("resource_sid", *(f for f, _ in SID_FILTERS))
            if getattr(request, field)
        )
        if not patterns or "*" in patterns:
            return cls(workspace_sid=request.workspace_sid, sids=sids)
        prefixes = tuple(sorted(p[:-1] for p in patterns if p.endswith(".*")))
        exact = frozenset(p for p in patterns if not p.endswith(".*"))
        return cls(
            workspace_sid=request.workspace_sid,
            all_types=False,
            exact_types=exact,
            type_prefixes=prefixes,
            sids=sids,
        )

    def matches(self, refs: EventRefs) -> bool:
        if refs.workspace_sid != self.workspace_sid:
            return False
        for attribute, wanted in self.sids:
            if getattr(refs, attribute) != wanted:
                return False
        if self.all_types:
            return True
        event_type = refs.event_type
        return event_type in self.exact_types or event_type.startswith(self.type_prefixes)


__all__ = ["EventFilter", "EventRefs", "InvalidArgument", "SID_FILTERS"]
