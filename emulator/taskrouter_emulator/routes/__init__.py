"""HTTP handlers, one module per resource; each module has `register(app)`."""

from __future__ import annotations

from aiohttp import web

from . import activities, admin, calls, events, workers, workspaces


def register_all(app: web.Application) -> None:
    for module in (workspaces, activities, workers, events, calls, admin):
        module.register(app)
