"""The time window shared by the Events list and the statistics requests: Minutes, StartDate, EndDate."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from google.protobuf import timestamp_pb2

from ..validation import MAX_TIMESTAMP_SECONDS, MIN_TIMESTAMP_SECONDS, InvalidArgument

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def window_params(req: Any) -> dict[str, object]:
    """Minutes, StartDate and EndDate from a request's `optional minutes`, `start_date` and `end_date`
    (the Events list and the statistics requests share them)."""
    query: dict[str, object] = {}
    if req.HasField("minutes"):
        query["Minutes"] = req.minutes
    if req.HasField("start_date"):
        query["StartDate"] = iso_seconds("start_date", req.start_date, round_up=False)
    if req.HasField("end_date"):
        # Rounded up to the whole second: Twilio's filter has second precision, and a window that is a
        # little wide only repeats events (de-duplicated by sid) where a narrow one would lose some.
        query["EndDate"] = iso_seconds("end_date", req.end_date, round_up=True)
    return query


def iso_seconds(field: str, value: timestamp_pb2.Timestamp, *, round_up: bool) -> str:
    """ISO 8601 "YYYY-MM-DDTHH:MM:SSZ", the form Twilio's helper libraries send."""
    seconds = value.seconds + (1 if round_up and value.nanos > 0 else 0)
    if not (MIN_TIMESTAMP_SECONDS <= seconds <= MAX_TIMESTAMP_SECONDS) or not (0 <= value.nanos < 1_000_000_000):
        raise InvalidArgument([(field, "must be a valid timestamp between years 1 and 9999")])
    moment = _EPOCH + timedelta(seconds=seconds)
    return moment.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
