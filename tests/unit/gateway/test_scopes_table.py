"""The scope table covers every RPC the protos declare, so a new RPC cannot go unguarded."""

from __future__ import annotations

import importlib
import pathlib
import re

from taskrouter.gateway import v1
from taskrouter_gateway.scopes import EVENTS, METHOD_SCOPES, READ, SCOPES, WRITE

PROTOS = pathlib.Path(__file__).resolve().parents[3] / "protos" / "taskrouter" / "gateway" / "v1"


def declared_methods() -> set[str]:
    """Every '/package.Service/Method' in the .proto files, read from the loaded descriptors."""
    found: set[str] = set()
    for proto in sorted(PROTOS.glob("*.proto")):
        module = importlib.import_module(f"{v1.__name__}.{proto.stem}_pb2")
        for service in module.DESCRIPTOR.services_by_name.values():
            found.update(f"/{service.full_name}/{method.name}" for method in service.methods)
    return found


def test_every_declared_rpc_has_exactly_one_scope():
    declared = declared_methods()
    assert len(declared) >= 21
    assert declared == set(METHOD_SCOPES), {
        "missing": sorted(declared - set(METHOD_SCOPES)), "stale": sorted(set(METHOD_SCOPES) - declared)
    }
    assert set(METHOD_SCOPES.values()) <= SCOPES


def test_scopes_follow_the_verbs():
    for method, scope in METHOD_SCOPES.items():
        name = method.rsplit("/", 1)[1]
        if re.match(r"(Get|List|BatchGet)", name):
            assert scope == READ, method
        elif name == "StreamEvents":
            assert scope == EVENTS
        else:
            assert scope == WRITE, method
