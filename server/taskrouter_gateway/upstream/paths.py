"""Request paths the client will send its credentials to: built from checked segments only."""

from __future__ import annotations

import re

from .errors import UnsafePath

# RFC 3986 unreserved characters: every TaskRouter and 2010 API path segment fits (SIDs, "Calls.json").
_SEGMENT_TEXT = r"[A-Za-z0-9._~-]+"
_SEGMENT = re.compile(_SEGMENT_TEXT)
# check_path's whole rule in one match (segments as above, none "." or ".."): the per-request fast path.
_PATH = re.compile(rf"(?:/(?!\.\.?(?:/|\Z)){_SEGMENT_TEXT})+")


def check_segment(segment: str) -> str:
    if not isinstance(segment, str) or not _SEGMENT.fullmatch(segment) or segment in (".", ".."):
        raise UnsafePath(f"unsafe path segment {segment!r}")
    return segment


def join_path(*segments: str) -> str:
    """'/' + checked segments, e.g. join_path("v1", "Workspaces", sid, "Workers")."""
    if not segments:
        raise UnsafePath("a path needs at least one segment")
    return "/" + "/".join(check_segment(s) for s in segments)


def is_plain_path(path: object) -> bool:
    """Whether check_path accepts `path`, without raising (or wording an error)."""
    return isinstance(path, str) and _PATH.fullmatch(path) is not None


def check_path(path: str) -> str:
    """An absolute path of unreserved segments: no '..', no '//', no query, no host."""
    if is_plain_path(path):
        return path
    if not isinstance(path, str) or not path.startswith("/"):
        raise UnsafePath(f"path must start with '/': {path!r}")
    for segment in path[1:].split("/"):
        check_segment(segment)
    return path
