"""Request paths the client will send its credentials to: built from checked segments only."""

from __future__ import annotations

import re

from .errors import UnsafePath

# RFC 3986 unreserved characters: every TaskRouter and 2010 API path segment fits (SIDs, "Calls.json").
_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+")


def check_segment(segment: str) -> str:
    if not isinstance(segment, str) or not _SEGMENT.fullmatch(segment) or segment in (".", ".."):
        raise UnsafePath(f"unsafe path segment {segment!r}")
    return segment


def join_path(*segments: str) -> str:
    """'/' + checked segments, e.g. join_path("v1", "Workspaces", sid, "Workers")."""
    if not segments:
        raise UnsafePath("a path needs at least one segment")
    return "/" + "/".join(check_segment(s) for s in segments)


def check_path(path: str) -> str:
    """An absolute path of unreserved segments: no '..', no '//', no query, no host."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise UnsafePath(f"path must start with '/': {path!r}")
    for segment in path[1:].split("/"):
        check_segment(segment)
    return path
