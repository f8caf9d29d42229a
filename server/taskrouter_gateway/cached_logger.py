"""A structlog logger for hot paths: assembled once per structlog configuration, not once per call."""

from __future__ import annotations

from typing import Any, Callable

import structlog


class CachedLogger:
    """What `structlog.get_logger(name)` gives, minus the per-call assembly.

    logs.configure leaves cache_logger_on_first_use off so tests can reconfigure, and then structlog's lazy
    proxy builds a new bound logger and output logger on every call (~1.5 us, even for a line the level
    drops). This keeps one and rebuilds it only when configure() swapped what it is made of. The processor
    list is shared by reference, so structlog.testing.capture_logs (which edits it in place) still works.
    """

    __slots__ = ("_name", "_wrapper", "_factory", "_processors", "_context_class", "_logger", "_is_enabled_for")

    def __init__(self, name: str) -> None:
        self._name = name
        self._wrapper: Any = None
        self._factory: Any = None
        self._processors: Any = None
        self._context_class: Any = None
        self._logger: Any = None
        self._is_enabled_for: Callable[[int], bool] = _always

    def get(self) -> Any:
        """The bound logger for the current configuration (a FilteringBoundLogger under logs.configure)."""
        config = structlog.get_config()
        wrapper = config["wrapper_class"]
        factory = config["logger_factory"]
        processors = config["processors"]
        context_class = config["context_class"]
        if (
            wrapper is not self._wrapper
            or factory is not self._factory
            or processors is not self._processors
            or context_class is not self._context_class
        ):
            self._logger = wrapper(factory(self._name), processors=processors, context=context_class())
            # structlog's filtering and stdlib bound loggers can say; any other wrapper logs everything. Looked
            # up on the class: structlog.BoundLogger forwards unknown attributes to the logger it wraps.
            can_say = callable(getattr(wrapper, "is_enabled_for", None))
            self._is_enabled_for = self._logger.is_enabled_for if can_say else _always
            self._wrapper, self._factory = wrapper, factory
            self._processors, self._context_class = processors, context_class
        return self._logger

    def enabled(self, level: int) -> bool:
        """Whether a line at `level` (logging.INFO etc.) would be emitted; True if the wrapper cannot say."""
        self.get()
        return self._is_enabled_for(level)


def _always(_level: int) -> bool:
    return True
