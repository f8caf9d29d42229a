"""CachedLogger follows structlog.configure() and capture_logs like structlog.get_logger would."""

from __future__ import annotations

import logging
from typing import Any, Iterator

import pytest
import structlog
from structlog.testing import capture_logs

from taskrouter_gateway.cached_logger import CachedLogger


@pytest.fixture
def restore_structlog() -> Iterator[None]:
    saved = structlog.get_config()
    try:
        yield
    finally:
        structlog.configure(**saved)


def collecting(into: list[dict[str, Any]]):
    def processor(_logger: Any, method: str, event_dict: dict[str, Any]) -> str:
        into.append({"level": method, **event_dict})
        return ""

    return processor


def test_level_changes_are_seen(restore_structlog: None) -> None:
    log = CachedLogger("test")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    assert not log.enabled(logging.INFO) and log.enabled(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    assert log.enabled(logging.DEBUG)


def test_lines_go_to_the_processors_configured_now(restore_structlog: None) -> None:
    first: list[dict[str, Any]] = []
    second: list[dict[str, Any]] = []
    structlog.configure(
        processors=[collecting(first)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.ReturnLoggerFactory(),
    )
    log = CachedLogger("test")
    log.get().info("one", n=1)
    log.get().debug("dropped")
    structlog.configure(processors=[collecting(second)])
    log.get().warning("two", n=2)
    assert first == [{"level": "info", "event": "one", "n": 1}]
    assert second == [{"level": "warning", "event": "two", "n": 2}]


def test_capture_logs_sees_its_lines(restore_structlog: None) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    log = CachedLogger("test")
    log.get().info("before capture")  # built before capture_logs edits the processor list in place
    with capture_logs() as logs:
        log.get().info("captured", k="v")
    assert logs == [{"event": "captured", "k": "v", "log_level": "info"}]


def test_a_wrapper_that_cannot_filter_is_assumed_to_log_everything(restore_structlog: None) -> None:
    structlog.configure(wrapper_class=structlog.BoundLogger, logger_factory=structlog.ReturnLoggerFactory())
    assert CachedLogger("test").enabled(logging.DEBUG)
