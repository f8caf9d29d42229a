"""The aiohttp receiver for TaskRouter's EventCallbackUrl: verify, validate, append durably, then 204.

The callback is stored as sent (events.records); the Event is built when it is read, not here.
"""

from __future__ import annotations

import logging
import time
import zlib
from urllib.parse import parse_qsl

import orjson
import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError
from yarl import query_to_pairs

from ..translate.events import MalformedCallback, callback_envelope
from ..eventlog import records
from .ingestor import EventTooOld, Ingestor
from ..eventlog.log import EventLogError
from .signature import SIGNATURE_HEADER, SignatureVerifier

log = structlog.get_logger("taskrouter_gateway.webhook")

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
# The TaskRouter Event Callbacks page's contract: 204 No Content with Content-Type application/json.
_ACCEPTED = {"Content-Type": JSON}
# Twilio sends neither; gzip and deflate are decoded here (aiohttp's own decoding is off, see
# create_webhook_app) so a broken body is a 400 with a reason, not an exception inside aiohttp.
_ENCODINGS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_CHARSETS = frozenset({"utf-8", "utf8"})


class RateLimitedLog:
    """One line per rejection, at most `per_second` lines a second; the rest are counted, and the count
    rides on the next line written. A flood of bad requests must not flood the log."""

    __slots__ = ("_per_second", "_window", "_written", "suppressed", "_clock")

    def __init__(self, per_second: int = 10, clock=time.monotonic) -> None:
        self._per_second = per_second
        self._clock = clock
        self._window = -1
        self._written = 0
        self.suppressed = 0

    def warning(self, event: str, **fields: object) -> bool:
        window = int(self._clock())
        if window != self._window:
            self._window, self._written = window, 0
        if self._written >= self._per_second:
            self.suppressed += 1
            return False
        self._written += 1
        if self.suppressed:
            fields["suppressed_since_last"] = self.suppressed
            self.suppressed = 0
        log.warning(event, **fields)
        return True


rejections = RateLimitedLog()


def _refuse(status: int, reason: str) -> web.Response:
    rejections.warning("webhook request refused", status=status, reason=reason[:200])
    return web.json_response({"error": reason, "status": status}, status=status)


class _BadBody(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class WebhookHandler:
    def __init__(self, verifier: SignatureVerifier, ingestor: Ingestor, *, max_body: int) -> None:
        # max_body has no default here: Settings.webhook_max_body is the one place it is chosen.
        self.verifier = verifier
        self._ingestor = ingestor
        self.max_body = max_body
        self.accepted = 0
        self.duplicates = 0
        self.refused: dict[int, int] = {}  # by HTTP status, for metrics
        self.expired = 0  # of the 400s, callbacks dated before the retention window

    async def handle(self, request: web.Request) -> web.StreamResponse:
        response = await self._handle(request)
        if response.status >= 400:
            self.refused[response.status] = self.refused.get(response.status, 0) + 1
        return response

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not signature:
            return _refuse(403, f"missing {SIGNATURE_HEADER} header")
        # With the verifier's public URL set, only this URL's query string is used (see SignatureVerifier).
        url = str(request.url)
        content_type = request.content_type
        if content_type not in (FORM, JSON):
            return _refuse(400, f"Content-Type must be {FORM} or {JSON}, got {content_type[:100] or 'none'}")
        charset = request.charset
        if charset is not None and charset.lower() not in _CHARSETS:
            return _refuse(400, f"charset must be utf-8, got {charset[:40]!r}")
        try:
            body = await self._body(request)
        except _BadBody as exc:
            return _refuse(exc.status, exc.reason)
        if content_type == FORM:
            pairs = _form_pairs(body)
            if pairs is None:
                return _refuse(400, "form body is not UTF-8")
            if not self.verifier.verify_form(url, pairs, signature):
                return _refuse(403, f"{SIGNATURE_HEADER} does not match the request")
        else:
            if not self.verifier.verify_json(url, body, signature):
                return _refuse(403, f"{SIGNATURE_HEADER} or bodySHA256 does not match the request")
            try:
                parsed = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                return _refuse(400, f"body is not valid JSON: {exc}")
            if not isinstance(parsed, dict) or not all(isinstance(v, (str, int, float, bool)) for v in parsed.values()):
                return _refuse(400, "JSON body must be an object of scalar callback parameters")
            pairs = [(k, v if isinstance(v, str) else orjson.dumps(v).decode()) for k, v in parsed.items()]

        try:
            envelope = callback_envelope(pairs, received_ms=time.time_ns() // 1_000_000)
        except MalformedCallback as exc:
            return _refuse(400, f"malformed callback: {exc}")
        try:
            result = await self._ingestor.ingest_live(records.from_callback(envelope))
        except EventTooOld as exc:
            self.expired += 1
            return _refuse(400, str(exc))
        except EventLogError:
            log.exception("event log append failed; callback not acknowledged", event_sid=envelope.sid)
            return _refuse(503, "event log unavailable; not acknowledged")
        if result.duplicate:
            self.duplicates += 1
        else:
            self.accepted += 1
        return web.Response(status=204, headers=_ACCEPTED)

    async def _body(self, request: web.Request) -> bytes:
        """The request body, decoded from gzip/deflate if so sent; _BadBody (400/413) otherwise."""
        encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity") and encoding not in _ENCODINGS:
            raise _BadBody(400, f"unsupported Content-Encoding {encoding[:40]!r} (gzip, deflate or none)")
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise _BadBody(413, f"body larger than {self.max_body} bytes") from None
        except (RequestPayloadError, ConnectionError, ValueError) as exc:  # e.g. broken chunked framing
            raise _BadBody(400, f"cannot read the body: {type(exc).__name__}") from None
        if encoding not in _ENCODINGS:
            return raw
        decoder = zlib.decompressobj(_ENCODINGS[encoding])
        try:
            body = decoder.decompress(raw, self.max_body + 1)  # bounded: no decompression bombs
        except zlib.error:
            raise _BadBody(400, f"body is not valid {encoding}") from None
        if len(body) > self.max_body:
            raise _BadBody(413, f"decoded body larger than {self.max_body} bytes")
        if not decoder.eof or decoder.unused_data:
            raise _BadBody(400, f"body is not valid {encoding}")
        return body


def _form_pairs(body: bytes) -> list[tuple[str, str]] | None:
    """The url-encoded form's (name, value) pairs, or None when it is not UTF-8 (Twilio sends UTF-8; anything
    else cannot have been signed by it). yarl's parser is the one aiohttp uses (7x faster than parse_qsl) but
    it replaces undecodable %-escapes with U+FFFD; only then is the form parsed again, strictly."""
    try:
        text = body.decode("utf-8").rstrip()
    except UnicodeDecodeError:
        return None
    pairs = query_to_pairs(text, encoding="utf-8", max_fields=None)
    if any("\ufffd" in name or "\ufffd" in value for name, value in pairs):
        try:
            return parse_qsl(text, keep_blank_values=True, errors="strict")
        except UnicodeDecodeError:
            return None
    return pairs


class _OneLineHandler(logging.Handler):
    """aiohttp's own errors (malformed HTTP, say) become one rate-limited line without a traceback."""

    def emit(self, record: logging.LogRecord) -> None:
        error = record.exc_info[1] if record.exc_info else None
        reason = f"{type(error).__name__}: {error}" if error is not None else record.getMessage()
        rejections.warning("webhook request refused by the HTTP server", reason=reason[:200])


def server_logger() -> logging.Logger:
    logger = logging.getLogger("taskrouter_gateway.webhook.http")
    if not logger.handlers:
        logger.addHandler(_OneLineHandler())
        logger.propagate = False
    return logger


def create_webhook_app(handler: WebhookHandler, path: str) -> web.Application:
    # No middleware: each one is a coroutine per request on the ingest hot path.
    app = web.Application(client_max_size=handler.max_body)
    app.router.add_post(path, handler.handle, expect_handler=_expect)
    return app


async def _expect(request: web.Request) -> web.StreamResponse | None:
    # aiohttp's default handler echoes the header into its 417 text and fails (500) on undecodable bytes.
    if request.version == (1, 1) and request.headers.get("Expect", "").lower() == "100-continue":
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return None
    return _refuse(417, "the only Expect value accepted is 100-continue")


def runner_options() -> dict[str, object]:
    """AppRunner keyword arguments for the webhook: no access log, one-line error logs, and bodies left
    encoded so _body can refuse a bad one with a reason."""
    return {"access_log": None, "logger": server_logger(), "auto_decompress": False}
