"""The one table from RPC to the scope a caller needs for it, built once at import from every service the
generated stubs declare, so a new RPC cannot go unguarded. Health and reflection are not here: they stay open.

The rule is the verb, matched as a whole CamelCase word: Get, List and BatchGet read (GetWorker, ListTasks), but
not a longer word that starts the same (Listen…, Getaway…) nor a compound verb (GetOrCreate…, ListAndDelete…);
StreamEvents needs `events`; every other RPC (Create, Update, Delete, BackfillEvents, ConfigureEventCallback,
and any verb added later) needs `write`, the strictest scope.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from taskrouter.gateway import v1

READ: Final = "read"  # Get, List and BatchGet
WRITE: Final = "write"  # Create, Update, Delete, Backfill, ConfigureEventCallback, anything else
EVENTS: Final = "events"  # StreamEvents
SCOPES: Final = frozenset({READ, WRITE, EVENTS})

# The verb, then the end of the name or the next CamelCase word, which must not join another verb (Or/And).
_READ_VERB = re.compile(r"(?:Batch)?(?:Get|List)(?![a-z0-9])(?!(?:Or|And)(?:[A-Z]|$))")


def scope_for_method_name(name: str) -> str:
    """The scope an RPC named `name` (no service) needs."""
    if name == "StreamEvents":
        return EVENTS
    if _READ_VERB.match(name):
        return READ
    return WRITE


def _declared_methods() -> dict[str, str]:
    table: dict[str, str] = {}
    for module_info in pkgutil.iter_modules(v1.__path__):
        if not module_info.name.endswith("_service_pb2"):
            continue
        module = importlib.import_module(f"{v1.__name__}.{module_info.name}")
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                table[f"/{service.full_name}/{method.name}"] = scope_for_method_name(method.name)
    return table


METHOD_SCOPES: Final[Mapping[str, str]] = MappingProxyType(_declared_methods())


def scope_of(full_method: str) -> str:
    """The scope for '/package.Service/Method'; KeyError for an RPC missing from the table (a bug)."""
    return METHOD_SCOPES[full_method]
