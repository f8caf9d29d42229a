"""HTTP handlers, one module per resource; each module has `register(app)`."""

from __future__ import annotations

from aiohttp import web

from . import (
    activities,
    admin,
    calls,
    events,
    reservations,
    statistics,
    task_channels,
    task_queues,
    tasks,
    worker_channels,
    workers,
    workflows,
    workspaces,
)


def register_all(app: web.Application) -> None:
    # statistics first: its ".../TaskQueues/Statistics" must not be read as a TaskQueue SID
    for module in (statistics, workspaces, activities, workers, worker_channels, task_channels, task_queues,
                   workflows, tasks, reservations, events, calls, admin):
        module.register(app)
