"""Hand-written helpers for the gateway's generated stubs (taskrouter.gateway.v1): channels with the shipped
retry policy, TLS and a bearer token, and decoding of the rich error details every failed call carries."""

from .channel import aio_channel, channel, channel_options, service_config
from .errors import bad_request_from, error_info_from, retry_delay_from, status_from

__all__ = [
    "aio_channel",
    "bad_request_from",
    "channel",
    "channel_options",
    "error_info_from",
    "retry_delay_from",
    "service_config",
    "status_from",
]
