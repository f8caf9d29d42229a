"""The date formats of Twilio's APIs (no HTTP here: the engine writes them into records too)."""

from __future__ import annotations

import time


def iso(epoch_seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_seconds))


def rfc2822(epoch_seconds: float) -> str:
    """The 2010-04-01 API's date format, e.g. "Tue, 11 Aug 2020 17:44:08 +0000"."""
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(epoch_seconds))
