"""How a broker failure reads in an error or a log line."""

from __future__ import annotations


def describe(exc: BaseException) -> str:
    """nats.py's exceptions say what went wrong in str(), not repr(): an APIError's repr is "BadRequestError()",
    its str carries the code and the server's description. A bare exception reads as its type."""
    return str(exc) or type(exc).__name__
