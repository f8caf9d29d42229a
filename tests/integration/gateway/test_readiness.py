"""/readyz over real HTTP follows what the event log reports: a replica catching up after a gap (the JetStream
consumer's not_ready_reason) is not ready, with the reason, until it is current again. The integration gap test
(test_replica_gap.py) shows the reason is set and cleared around a real gap; the window there is too short to
catch over HTTP, so the mapping is checked here with a log whose reason the test sets."""

from __future__ import annotations

import aiohttp

from taskrouter_gateway.admin import AdminServer, Readiness


class Log:
    """Only what Readiness reads of an event log."""

    def __init__(self) -> None:
        self.behind: str | None = None

    def not_ready_reason(self) -> str | None:
        return self.behind


async def test_readyz_is_503_with_the_reason_while_the_log_catches_up_then_200():
    readiness, log = Readiness(), Log()
    readiness.event_log = log  # type: ignore[assignment]
    async with AdminServer(None, readiness) as admin, aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{admin.port}/readyz"
        async with http.get(url) as resp:
            assert (resp.status, await resp.text()) == (200, "ready\n")
        log.behind = "catching up with the event stream after losing events to retention (at seq 10 of 40)"
        async with http.get(url) as resp:
            assert resp.status == 503
            assert await resp.text() == f"not ready: {log.behind}\n"
        log.behind = None
        async with http.get(url) as resp:
            assert resp.status == 200
        readiness.draining = True  # draining wins over everything
        async with http.get(url) as resp:
            assert (resp.status, await resp.text()) == (503, "not ready: draining\n")
