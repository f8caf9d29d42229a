"""Calls (the Voice Call Events resource): recorded through the admin API, or by reservation instructions
that need telephony the emulator lacks."""

from __future__ import annotations

from ..errors import not_found
from ..model import Call, CallEvent
from ..sids import new_sid
from .transaction import Registry, Transaction


def record(tx: Transaction, events: list[CallEvent], sid: str | None = None) -> Call:
    """Append events to the call `sid`, or make it (with that SID, or a new one)."""
    registry = tx.registry
    call_sid = sid or new_sid("CA")
    call = registry.calls.get(call_sid)
    if call is None:
        call = registry.calls[call_sid] = Call(sid=call_sid, account_sid=registry.account_sid)
        tx.assign_seq(call_sid)
    call.events.extend(events)
    tx.put("call", call, None)
    return call


def get(registry: Registry, account_sid: str, sid: str) -> Call:
    call = registry.calls.get(sid)
    if call is None or account_sid != registry.account_sid:
        raise not_found()
    return call
