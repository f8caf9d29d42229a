"""Captured TaskRouter callbacks (tests/fixtures/callbacks), re-dated to now with a fresh event sid.

The captures are from 2024; the webhook refuses a callback dated before the retention window (a replay), so
tests that post one as a live callback take it from here."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "callbacks"


def live_callback(name: str = "worker.created", *, at_ms: int | None = None, **overrides: str) -> dict[str, str]:
    params: dict[str, str] = json.loads((FIXTURES / f"{name}.json").read_text())["params"]
    now_ms = time.time_ns() // 1_000_000 if at_ms is None else at_ms
    params.update(Timestamp=str(now_ms // 1000), TimestampMs=str(now_ms), Sid="EV" + secrets.token_hex(16))
    params.update(overrides)
    return params
