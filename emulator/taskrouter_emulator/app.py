"""create_app(config): the aiohttp application with its store, middlewares, routes and callback dispatcher."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from .assignment import AssignmentDispatcher
from .auth import Authenticator, auth_middleware
from .callbacks import CallbackDispatcher
from .config import EmulatorConfig
from .context import CONTEXT, EmulatorContext
from .faults import FaultInjector
from .middleware import error_middleware, fault_middleware
from .persistence import StateFile
from .routes import faults as fault_routes
from .routes import register_all
from .store import Store
from .timer_runner import TimerRunner

MAX_BODY_BYTES = 1024 * 1024  # form posts are small; a worker's Attributes is the largest thing sent


def create_app(config: EmulatorConfig | None = None) -> web.Application:
    config = config or EmulatorConfig()
    state_file = StateFile(config.state_file, config.account_sid) if config.state_file else None
    store = Store(config.account_sid, config.default_workspace_sid, state_file=state_file)
    faults = FaultInjector()
    dispatcher = CallbackDispatcher(config.auth_token, faults.callbacks, allowed=config.callback_allowed)
    store.add_listener(dispatcher.submit)
    assignments = AssignmentDispatcher(store, config.auth_token, allowed=config.callback_allowed)
    store.add_listener(assignments.submit)
    timers = TimerRunner(store)

    # Order matters: errors outermost (so auth and injected faults still answer in Twilio's shape),
    # then auth (nothing, faults included, is visible without credentials), then faults.
    app = web.Application(
        middlewares=[error_middleware, auth_middleware(Authenticator(config)), fault_middleware(faults)],
        client_max_size=MAX_BODY_BYTES,
    )
    app[CONTEXT] = EmulatorContext(
        config=config, store=store, faults=faults, dispatcher=dispatcher, assignments=assignments
    )
    register_all(app)
    fault_routes.register(app, faults, dispatcher)

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        await dispatcher.start()
        await assignments.start()
        await timers.start()
        try:
            yield
        finally:
            await timers.close()
            await assignments.close()
            await dispatcher.close()
            if state_file is not None:
                state_file.close()

    app.cleanup_ctx.append(lifecycle)
    return app
