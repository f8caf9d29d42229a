"""The description of one REST request, built by translate/ and executed by upstream/."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RestCall:
    method: str
    path: str  # may already carry a query string (a next-page path taken from a page token)
    query: dict[str, object] = field(default_factory=dict)
    form: dict[str, object] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    base: str = "taskrouter"  # or "api" for the 2010 API
    json: object = None  # a POST's JSON body, sent instead of the form (bulk statistics)
    read_only: bool = False  # a POST that changes nothing: retried on 429/503 like a GET
