"""Shared fixtures: a real TaskRouter emulator on 127.0.0.1:0 and an HTTP client for it.

- `emulator`: a started emulator (taskrouter_emulator.server.RunningEmulator) with the default test
  credentials and an in-memory state; stopped after the test. `emulator.base_url`, `emulator.config`,
  and `emulator.context` (store, faults, dispatcher) for the rare test that must reach behind HTTP.
- `emulator_http`: an aiohttp ClientSession whose base_url is the emulator and which sends Basic auth
  with the account SID and auth token; relative paths ("/v1/Workspaces") and absolute URLs both work.
- `emulator_clock`: a ManualClock installed as the emulator store's clock, for time-dependent rules
  (date_status_changed, time in previous activity, event windows and retention) without sleeping.
More helpers: taskrouter_emulator.testing (expect_twilio_error, basic_auth_header, ManualClock).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from taskrouter_emulator.config import EmulatorConfig
from taskrouter_emulator.server import RunningEmulator, start_emulator
from taskrouter_emulator.testing import ManualClock, account_auth_header


@pytest.fixture
async def emulator() -> AsyncIterator[RunningEmulator]:
    running = await start_emulator(EmulatorConfig(host="127.0.0.1", port=0))
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def emulator_http(emulator: RunningEmulator) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=emulator.base_url, headers=account_auth_header(emulator.config)) as http:
        yield http


@pytest.fixture
def emulator_clock(emulator: RunningEmulator) -> ManualClock:
    clock = ManualClock(time.time())
    emulator.context.store.clock = clock
    return clock
