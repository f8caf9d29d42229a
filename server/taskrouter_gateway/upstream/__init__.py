"""Twilio REST access: one pooled aiohttp session, form encoding, paging, deadlines, retries. No protobuf."""

from .client import DEFAULT_API_BASE_URL, DEFAULT_TASKROUTER_BASE_URL, DEFAULT_USER_AGENT, UpstreamClient
from .credentials import Credentials
from .errors import (
    UnsafePath,
    UpstreamBadResponse,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamFailure,
    UpstreamTimeout,
)
from .forms import Json, encode_params
from .paging import InvalidPageToken, decode_page_token, encode_page_token, next_page_token
from .paths import join_path
from .response import RateLimit, UpstreamResponse
from .retry import RetryPolicy, parse_retry_after

__all__ = [
    "DEFAULT_API_BASE_URL",
    "DEFAULT_TASKROUTER_BASE_URL",
    "DEFAULT_USER_AGENT",
    "Credentials",
    "InvalidPageToken",
    "Json",
    "RateLimit",
    "RetryPolicy",
    "UnsafePath",
    "UpstreamBadResponse",
    "UpstreamClient",
    "UpstreamConnectionError",
    "UpstreamError",
    "UpstreamFailure",
    "UpstreamResponse",
    "UpstreamTimeout",
    "decode_page_token",
    "encode_page_token",
    "encode_params",
    "join_path",
    "next_page_token",
    "parse_retry_after",
]
