"""The aiohttp receiver for TaskRouter's EventCallbackUrl: verify, validate, append durably, then 204.

The callback is stored as sent (events.records); the Event is built when it is read, not here.
"""

from __future__ import annotations

import time

import orjson
import structlog
from aiohttp import web

from ..translate.events import MalformedCallback, callback_envelope
from . import records
from .ingest import Ingestor
from .log import EventLogError
from .signature import SIGNATURE_HEADER, SignatureVerifier

log = structlog.get_logger("taskrouter_gateway.webhook")

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
# Seed 001's contract: 204 No Content with Content-Type application/json.
_ACCEPTED = {"Content-Type": JSON}


def _refuse(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason, "status": status}, status=status)


class WebhookHandler:
    def __init__(self, verifier: SignatureVerifier, ingestor: Ingestor, *, max_body: int = 64 * 1024) -> None:
        self._verifier = verifier
        self._ingestor = ingestor
        self.max_body = max_body
        self.accepted = 0
        self.duplicates = 0
        self.refused: dict[int, int] = {}  # by HTTP status, for metrics

    async def handle(self, request: web.Request) -> web.StreamResponse:
        response = await self._handle(request)
        if response.status >= 400:
            self.refused[response.status] = self.refused.get(response.status, 0) + 1
        return response

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not signature:
            return _refuse(403, f"missing {SIGNATURE_HEADER} header")
        url = str(request.url)
        content_type = request.content_type
        if content_type == FORM:
            try:
                form = await request.post()  # url-encoded: every value is text (files need multipart)
            except web.HTTPRequestEntityTooLarge:
                return self._too_large()
            pairs = list(form.items())
            if not self._verifier.verify_form(url, pairs, signature):
                return _refuse(403, f"{SIGNATURE_HEADER} does not match the request")
        elif content_type == JSON:
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                return self._too_large()
            if not self._verifier.verify_json(url, body, signature):
                return _refuse(403, f"{SIGNATURE_HEADER} or bodySHA256 does not match the request")
            try:
                parsed = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                return _refuse(400, f"body is not valid JSON: {exc}")
            if not isinstance(parsed, dict) or not all(isinstance(v, (str, int, float, bool)) for v in parsed.values()):
                return _refuse(400, "JSON body must be an object of scalar callback parameters")
            pairs = [(k, v if isinstance(v, str) else orjson.dumps(v).decode()) for k, v in parsed.items()]
        else:
            return _refuse(400, f"Content-Type must be {FORM} or {JSON}, got {content_type or 'none'}")

        try:
            envelope = callback_envelope(pairs, received_ms=time.time_ns() // 1_000_000)
        except MalformedCallback as exc:
            return _refuse(400, f"malformed callback: {exc}")
        try:
            [result] = await self._ingestor.ingest([records.from_callback(envelope)])
        except EventLogError:
            log.exception("event log append failed; callback not acknowledged", event_sid=envelope.sid)
            return _refuse(503, "event log unavailable; not acknowledged")
        if result.duplicate:
            self.duplicates += 1
        else:
            self.accepted += 1
        return web.Response(status=204, headers=_ACCEPTED)

    def _too_large(self) -> web.Response:
        return _refuse(413, f"body larger than {self.max_body} bytes")


def create_webhook_app(handler: WebhookHandler, path: str) -> web.Application:
    # No middleware: each one is a coroutine per request on the ingest hot path.
    app = web.Application(client_max_size=handler.max_body)
    app.router.add_post(path, handler.handle)
    return app
