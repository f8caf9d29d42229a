"""The one pooled HTTP client the gateway uses to reach Twilio (or the emulator, over the same HTTP)."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType, TracebackType
from typing import Any, Final, Literal
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import orjson
from yarl import URL

from ..cached_logger import CachedLogger
from .credentials import Credentials
from .errors import (
    UnsafePath,
    UpstreamBadResponse,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamFailure,
    UpstreamTimeout,
)
from .forms import Params, encode_params, urlencode_pairs
from .paging import decode_page_token, next_page_token
from .paths import check_path, is_plain_path
from .response import RateLimit, UpstreamResponse
from .retry import RetryPolicy, parse_retry_after

Base = Literal["taskrouter", "api"]
Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]
# Told about every attempt: (method, outcome, HTTP status, seconds, rate limit, retry delay). Metrics plug in
# here without upstream knowing them.
AttemptObserver = Callable[[str, str, "int | None", "float | None", "RateLimit | None", "float | None"], None]

DEFAULT_TASKROUTER_BASE_URL: Final = "https://taskrouter.twilio.com"
DEFAULT_API_BASE_URL: Final = "https://api.twilio.com"
DEFAULT_USER_AGENT: Final = "taskrouter-gateway/0.1"
_FORM_CONTENT_TYPE: Final = "application/x-www-form-urlencoded"
# The outcome of a DELETE retried after a connection error that may have carried the first request, and then
# answered 404: returned as a success (the resource is gone, most likely by that first attempt).
GONE_AFTER_RETRY: Final = "gone_after_retry"
_FORM_HEADERS: Final = MappingProxyType({"Content-Type": _FORM_CONTENT_TYPE})
_JSON_HEADERS: Final = MappingProxyType({"Content-Type": "application/json"})
# Headers the client owns; a caller overriding them would be a bug (or an attempt to swap credentials).
_RESERVED_HEADERS: Final = frozenset({"authorization", "host", "content-type", "content-length", "user-agent"})

log = CachedLogger("taskrouter_gateway.upstream")

_LEVEL_METHODS: Final = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warning"}


def _base_url(name: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{name} must be an http(s) URL with a host, got {url!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        # Paths (and page tokens) are absolute from the host, exactly as Twilio writes them.
        raise ValueError(f"{name} must be scheme://host[:port] only, got {url!r}")
    return f"{parts.scheme}://{parts.netloc}"


class UpstreamClient:
    """Async REST client for TaskRouter (base "taskrouter") and the 2010 API (base "api").

    Everything fixed per process (URLs, auth header, retry policy, timeouts) is computed here once.
    `deadline` is absolute time.monotonic() seconds; None means only `default_timeout` per attempt applies.
    Non-2xx replies raise UpstreamError; see errors.status_for for the gRPC side.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        taskrouter_base_url: str = DEFAULT_TASKROUTER_BASE_URL,
        api_base_url: str = DEFAULT_API_BASE_URL,
        user_agent: str = DEFAULT_USER_AGENT,
        retry_policy: RetryPolicy | None = None,
        connect_timeout: float = 5.0,
        default_timeout: float | None = 60.0,
        connection_limit: int = 100,
        keepalive_timeout: float = 15.0,
        rate_limit_warn_fraction: float = 0.1,
        rate_limit_warn_floor: int = 0,
        rng: random.Random | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        attempt_observer: AttemptObserver | None = None,
    ) -> None:
        if connect_timeout <= 0:
            raise ValueError(f"connect_timeout must be > 0, got {connect_timeout}")
        if default_timeout is not None and default_timeout <= 0:
            raise ValueError(f"default_timeout must be > 0 or None, got {default_timeout}")
        if connection_limit < 1:
            raise ValueError(f"connection_limit must be >= 1, got {connection_limit}")
        self._credentials = credentials
        self._bases: dict[str, str] = {
            "taskrouter": _base_url("taskrouter_base_url", taskrouter_base_url),
            "api": _base_url("api_base_url", api_base_url),
        }
        self._root_urls: dict[str, URL] = {name: URL(root, encoded=True) for name, root in self._bases.items()}
        self._headers = {
            "Authorization": credentials.authorization_header(),
            "User-Agent": user_agent,
            "Accept": "application/json",
        }
        self._policy = retry_policy or RetryPolicy()
        self._session_timeout = aiohttp.ClientTimeout(total=None, connect=None, sock_connect=connect_timeout)
        self._default_timeout = default_timeout
        self._connection_limit = connection_limit
        self._keepalive_timeout = keepalive_timeout
        self._warn_fraction = rate_limit_warn_fraction
        self._warn_floor = rate_limit_warn_floor
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._observer = attempt_observer

    def __repr__(self) -> str:
        return f"UpstreamClient(taskrouter={self._bases['taskrouter']!r}, api={self._bases['api']!r})"

    @property
    def account_sid(self) -> str:
        return self._credentials.account_sid

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._policy

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._session is not None:
            raise RuntimeError("UpstreamClient is already started")
        connector = aiohttp.TCPConnector(
            limit=self._connection_limit,
            keepalive_timeout=self._keepalive_timeout,
            ttl_dns_cache=300,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers=self._headers,
            timeout=self._session_timeout,
            trust_env=False,
            raise_for_status=False,
        )
        # aiohttp silently resends an idempotent request once after a disconnect; retries are ours alone
        # (one budget, one log line per attempt, deadline-aware). aiohttp's own test client does the same.
        self._session._retry_connection = False

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def __aenter__(self) -> "UpstreamClient":
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- calls -----------------------------------------------------------------------------------

    async def get(
        self,
        path: str,
        *,
        query: Params | None = None,
        headers: Mapping[str, str] | None = None,
        deadline: float | None,
        base: Base = "taskrouter",
    ) -> UpstreamResponse:
        return await self.request("GET", path, query=query, headers=headers, deadline=deadline, base=base)

    async def post(
        self,
        path: str,
        *,
        form: Params | None = None,
        query: Params | None = None,
        headers: Mapping[str, str] | None = None,
        deadline: float | None,
        base: Base = "taskrouter",
    ) -> UpstreamResponse:
        return await self.request(
            "POST", path, query=query, form=form, headers=headers, deadline=deadline, base=base
        )

    async def delete(
        self,
        path: str,
        *,
        query: Params | None = None,
        headers: Mapping[str, str] | None = None,
        deadline: float | None,
        base: Base = "taskrouter",
    ) -> UpstreamResponse:
        return await self.request("DELETE", path, query=query, headers=headers, deadline=deadline, base=base)

    async def list_page(
        self,
        path: str,
        *,
        page_token: str | None,
        query: Params | None = None,
        deadline: float | None,
        base: Base = "taskrouter",
    ) -> tuple[UpstreamResponse, str | None]:
        """One page of a list: the first from `path`+`query`, later ones from the token (whose query wins).

        Returns the reply and the next page's token (None on the last page). Raises InvalidPageToken.
        """
        target = decode_page_token(page_token, path) if page_token else path
        response = await self.get(target, query=None if page_token else query, deadline=deadline, base=base)
        return response, next_page_token(response.body)

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Params | None = None,
        form: Params | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        deadline: float | None,
        base: Base = "taskrouter",
        read_only: bool = False,
    ) -> UpstreamResponse:
        """One logical call, retried per the policy. `path` may carry a query (from a page token).

        A POST sends `json` as a JSON body when given (else `form`, form-encoded). `read_only` marks a POST
        that changes nothing (bulk statistics), so it is retried like a GET.

        Raises UpstreamError (non-2xx), UpstreamConnectionError, UpstreamTimeout, UpstreamBadResponse,
        UnsafePath / ValueError / TypeError for bad arguments. CancelledError always propagates.
        """
        session = self._session
        if session is None:
            raise RuntimeError("UpstreamClient.start() has not been awaited")
        method = method.upper()
        url, log_path = self._url(base, path, query)
        # None, not {}: aiohttp then just uses the session's prebuilt headers.
        request_headers: Mapping[str, str] | None = self._request_headers(headers) if headers else None
        body: bytes | None = None
        if method == "POST" and json is not None:
            if form:
                raise ValueError("a POST sends a form or a JSON body, not both")
            body = orjson.dumps(json)
            request_headers = {**request_headers, **_JSON_HEADERS} if request_headers else _JSON_HEADERS
        elif method == "POST":
            body = urlencode_pairs(encode_params(form)).encode("ascii")
            request_headers = {**request_headers, **_FORM_HEADERS} if request_headers else _FORM_HEADERS
        elif form is not None or json is not None:
            raise ValueError(f"a body is only sent with POST, not {method}")

        clock = self._clock
        attempt = 0
        # A DELETE whose request may have reached Twilio before the connection broke (sent, no reply): if a
        # retry then answers 404, the first attempt most likely did the delete (GONE_AFTER_RETRY).
        delete_maybe_done = False
        while True:
            attempt += 1
            if deadline is None:
                timeout = self._default_timeout
            else:
                timeout = deadline - clock()
                if timeout <= 0:
                    self._log_call(method, log_path, base, attempt, outcome="no_time_left")
                    raise UpstreamTimeout(
                        f"{method} {log_path}: no time left before the deadline",
                        method=method,
                        path=log_path,
                        attempts=attempt - 1,
                    )
            started = clock()
            try:
                async with asyncio.timeout(timeout):
                    # No redirects: following one would carry the Authorization header to wherever it points.
                    async with session.request(
                        method, url, data=body, headers=request_headers, allow_redirects=False
                    ) as resp:
                        raw = await resp.read()  # reading it all returns the connection to the pool
                        status, reason, reply_headers = resp.status, resp.reason, resp.headers
            except aiohttp.ClientError as exc:
                # Before TimeoutError: aiohttp's connect timeout is both; it is a connection failure.
                # A connect that failed or timed out never sent the request; anything later may have.
                delete_maybe_done = delete_maybe_done or (method == "DELETE" and not isinstance(
                    exc, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)))
                failure: UpstreamFailure = UpstreamConnectionError(
                    f"{method} {log_path}: {type(exc).__name__}: {exc}",
                    method=method,
                    path=log_path,
                    attempts=attempt,
                )
                http_status: int | None = None
                rate_limit: RateLimit | None = None
                retry_after: float | None = None
            except TimeoutError:
                self._log_call(method, log_path, base, attempt, outcome="timeout", latency=clock() - started)
                raise UpstreamTimeout(
                    f"{method} {log_path}: no reply before the deadline",
                    method=method,
                    path=log_path,
                    attempts=attempt,
                ) from None
            except asyncio.CancelledError:
                self._log_call(method, log_path, base, attempt, outcome="cancelled", latency=clock() - started)
                raise
            else:
                http_status = status
                rate_limit = RateLimit.from_headers(reply_headers)
                if 200 <= status < 300:
                    try:
                        parsed = _parse_object(raw)
                    except ValueError as exc:
                        self._log_call(
                            method, log_path, base, attempt, outcome="bad_response", status=status,
                            latency=clock() - started, rate_limit=rate_limit,
                        )
                        raise UpstreamBadResponse(
                            f"{method} {log_path}: HTTP {status} with {exc}",
                            status=status,
                            method=method,
                            path=log_path,
                            attempts=attempt,
                        ) from None
                    # The "ok" line is debug: skip building it unless it is kept or there is a budget to check.
                    if rate_limit is not None or self._observer is not None or log.enabled(logging.DEBUG):
                        self._log_call(
                            method, log_path, base, attempt, outcome="ok", status=status,
                            latency=clock() - started, rate_limit=rate_limit,
                        )
                    return UpstreamResponse(status=status, body=parsed, headers=reply_headers, rate_limit=rate_limit)
                if status == 404 and delete_maybe_done:
                    self._log_call(method, log_path, base, attempt, outcome=GONE_AFTER_RETRY, status=status,
                                   latency=clock() - started, rate_limit=rate_limit)
                    return UpstreamResponse(status=status, body=None, headers=reply_headers, rate_limit=rate_limit)
                retry_after = parse_retry_after(reply_headers.get("Retry-After"))
                failure = UpstreamError.from_body(
                    status,
                    _parse_lenient(raw),
                    method=method,
                    path=log_path,
                    retry_after=retry_after,
                    attempts=attempt,
                    reason=reason,
                )

            latency = clock() - started
            delay: float | None = None
            if self._policy.retryable(method, http_status, read_only=read_only):
                delay = self._policy.next_delay(
                    attempt, retry_after=retry_after, now=clock(), deadline=deadline, rng=self._rng,
                    attempt_time=latency,
                )
            self._log_call(
                method, log_path, base, attempt,
                outcome="http_error" if http_status is not None else "connection_error",
                status=http_status, latency=latency, rate_limit=rate_limit, failure=failure, retry_in=delay,
            )
            if delay is None:
                raise failure
            await self._sleep(delay)

    # -- internals -------------------------------------------------------------------------------

    def _url(self, base: Base, path: str, query: Params | None) -> tuple[URL, str]:
        root_url = self._root_urls.get(base)
        if root_url is None:
            raise ValueError(f"base must be 'taskrouter' or 'api', got {base!r}")
        if query is None and is_plain_path(path):  # the common case; anything else takes the slow road
            return root_url.with_path(path, encoded=True), path
        root = self._bases[base]
        if "#" in path:
            raise UnsafePath(f"path must not hold a fragment: {path!r}")
        path_part, sep, inline_query = path.partition("?")
        check_path(path_part)
        pairs = parse_qsl(inline_query, keep_blank_values=True) if sep else []
        pairs.extend(encode_params(query))
        text = root + path_part + (f"?{urlencode_pairs(pairs)}" if pairs else "")
        # Path segments are unreserved-only and the query is urlencoded: nothing left to escape.
        return URL(text, encoded=True), path_part

    def _request_headers(self, headers: Mapping[str, str] | None) -> dict[str, str]:
        if not headers:
            return {}
        reserved = sorted(name for name in headers if name.lower() in _RESERVED_HEADERS)
        if reserved:
            raise ValueError(f"headers set by the client itself cannot be overridden: {', '.join(reserved)}")
        return dict(headers)

    def _log_call(
        self,
        method: str,
        path: str,
        base: str,
        attempt: int,
        *,
        outcome: str,
        status: int | None = None,
        latency: float | None = None,
        rate_limit: RateLimit | None = None,
        failure: UpstreamFailure | None = None,
        retry_in: float | None = None,
    ) -> None:
        if self._observer is not None:
            self._observer(method, outcome, status, latency, rate_limit, retry_in)
        if outcome == "ok" or outcome == "cancelled":
            level = logging.DEBUG
        elif status is not None and 400 <= status < 500:
            level = logging.INFO
        else:
            level = logging.WARNING
        if log.enabled(level):
            # Only method, path (no query), codes and timings: never headers, form values or credentials.
            fields: dict[str, Any] = {
                "method": method,
                "path": path,
                "base": base,
                "attempt": attempt,
                "outcome": outcome,
                "status": status,
            }
            if latency is not None:
                fields["latency_ms"] = round(latency * 1000, 1)
            if isinstance(failure, UpstreamError) and failure.code is not None:
                fields["twilio_code"] = failure.code
            if isinstance(failure, UpstreamConnectionError):
                fields["error"] = failure.message
            if retry_in is not None:
                fields["retry_in_s"] = round(retry_in, 3)
            if rate_limit is not None:
                fields.update(rate_limit.log_fields())
            getattr(log.get(), _LEVEL_METHODS[level])("upstream_call", **fields)
        if rate_limit is not None and rate_limit.is_low(self._warn_fraction, self._warn_floor):
            log.get().warning(
                "upstream_rate_limit_low",
                method=method,
                path=path,
                remaining=rate_limit.remaining,
                limit=rate_limit.limit,
                config=rate_limit.config,
            )


def _parse_object(raw: bytes) -> dict[str, Any] | None:
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        # An empty body (a 204) fails to parse too; only then is it worth looking for one.
        if not raw.strip():
            return None
        raise ValueError("a body that is not JSON") from None
    if not isinstance(parsed, dict):
        raise ValueError(f"a JSON {type(parsed).__name__} where an object was expected")
    return parsed


def _parse_lenient(raw: bytes) -> Any:
    try:
        return orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError:
        return None
