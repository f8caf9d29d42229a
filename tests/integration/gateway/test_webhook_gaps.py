"""The webhook's edges that mutation testing found untested: signed bodies that are not callbacks,
bodies that inflate past the limit, blank and U+FFFD form values, Expect, and the rejection log."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import logging
import secrets
import time
import zlib
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import aiohttp
import orjson
import pytest
from callback_fixtures import live_callback
from structlog.testing import capture_logs

from taskrouter_gateway.eventlog import records

from taskrouter_gateway.ingest import webhook
from taskrouter_gateway.ingest.signature import compute_signature

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "callbacks"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def _callback(workspace_sid: str, **extra: str) -> dict[str, str]:
    return live_callback(WorkspaceSid=workspace_sid, **extra)


@pytest.fixture
async def http():
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session


async def _post(http, url, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    async with http.post(url, data=body, headers=headers) as resp:
        return resp.status, await resp.text()


def _reason(text: str) -> str:
    return json.loads(text)["error"]


# -- signed JSON bodies ------------------------------------------------------------------------------------


def _signed_json(base_url: str, body: bytes, token: str) -> tuple[str, dict[str, str]]:
    """The URL with bodySHA256 and the headers Twilio would send for a JSON body: the signature covers the URL
    only, and the body is bound to it by its hash."""
    url = f"{base_url}?bodySHA256={hashlib.sha256(body).hexdigest()}"
    return url, {"Content-Type": JSON, "X-Twilio-Signature": compute_signature(url, {}, token)}


@pytest.mark.parametrize(("body", "words"), [
    (b"EventType=worker.created", "body is not valid JSON"),
    (b'{"EventType": "worker.created"', "body is not valid JSON"),
    (b'["EventType", "worker.created"]', "JSON body must be an object"),
    (b'"worker.created"', "JSON body must be an object"),
    (b"42", "JSON body must be an object"),
    (b'{"EventType": "worker.created", "WorkerAttributes": {"a": 1}}', "object of scalar callback parameters"),
    (b'{"EventType": "worker.created", "WorkerVersion": null}', "object of scalar callback parameters"),
    (b'{"EventType": ["worker.created"]}', "object of scalar callback parameters"),
])
async def test_a_correctly_signed_body_that_is_not_a_json_object_of_scalars_is_400(gateway, http, emulator, body,
                                                                                    words):
    url, headers = _signed_json(gateway.webhook_url, body, emulator.config.auth_token)
    status, text = await _post(http, url, body, headers)
    assert status == 400, text
    assert words in _reason(text)
    assert await gateway.event_log.last_seq() == 0


async def test_a_signed_json_callback_is_stored_with_its_numbers_and_booleans_as_text(gateway, http, emulator):
    params: dict[str, object] = dict(_callback(emulator.config.default_workspace_sid))
    params.update(WorkerVersion=3, Available=True, Ratio=0.5)
    body = orjson.dumps(params)
    url, headers = _signed_json(gateway.webhook_url, body, emulator.config.auth_token)
    status, text = await _post(http, url, body, headers)
    assert status == 204, text
    stored = await gateway.event_log.get(str(params["Sid"]))
    assert stored is not None and stored.payload.startswith(records.CALLBACK)
    raw = orjson.loads(stored.payload[len(records.CALLBACK):])
    assert (raw["WorkerVersion"], raw["Available"], raw["Ratio"]) == ("3", "true", "0.5")
    assert raw["WorkerName"] == "Alice"


async def test_a_json_body_whose_hash_does_not_match_is_403(gateway, http, emulator):
    body = orjson.dumps(_callback(emulator.config.default_workspace_sid))
    url, headers = _signed_json(gateway.webhook_url, body, emulator.config.auth_token)
    status, text = await _post(http, url, body.replace(b"Alice", b"Mallory"), headers)
    assert status == 403, text
    assert "bodySHA256" in _reason(text)


# -- sizes and encodings -----------------------------------------------------------------------------------


def _padded_form(params: dict[str, str], size: int) -> tuple[dict[str, str], bytes]:
    """The callback plus a Padding parameter that brings the encoded form to exactly `size` bytes."""
    bare = urlencode({**params, "Padding": ""}).encode()
    padded = {**params, "Padding": "p" * (size - len(bare))}
    body = urlencode(padded).encode()
    assert len(body) == size
    return padded, body


@pytest.mark.parametrize(("inflated", "status"), [(1024, 204), (1025, 413), (200_000, 413)])
async def test_a_small_gzip_body_that_inflates_past_the_limit_is_413(make_gateway, http, emulator, inflated,
                                                                     status):
    gw = await make_gateway(webhook_max_body=1024)
    params, raw = _padded_form(_callback(emulator.config.default_workspace_sid), inflated)
    body = gzip.compress(raw)
    assert len(body) < 1024  # under the limit as sent: only decoding can find it too big
    headers = {"Content-Type": FORM, "Content-Encoding": "gzip",
               "X-Twilio-Signature": compute_signature(gw.webhook_url, params, emulator.config.auth_token)}
    status_seen, text = await _post(http, gw.webhook_url, body, headers)
    assert status_seen == status, text
    if status == 413:
        assert "decoded body larger than 1024 bytes" in _reason(text)
        assert await gw.event_log.last_seq() == 0
    else:
        assert await gw.event_log.get(params["Sid"]) is not None


async def test_a_plain_body_over_the_limit_is_413_before_it_is_read(make_gateway, http, emulator):
    gw = await make_gateway(webhook_max_body=1024)
    params, body = _padded_form(_callback(emulator.config.default_workspace_sid), 1025)
    headers = {"Content-Type": FORM,
               "X-Twilio-Signature": compute_signature(gw.webhook_url, params, emulator.config.auth_token)}
    status, text = await _post(http, gw.webhook_url, body, headers)
    assert status == 413, text
    assert "body larger than 1024 bytes" in _reason(text)


@pytest.mark.parametrize("label", ["gzip", "x-gzip"])
async def test_gzip_needs_a_gzip_stream_and_its_full_window(gateway, http, emulator, label):
    token = emulator.config.auth_token
    # A value repeated 20 KB further on: gzip encodes the repeat as a back-reference longer than a 16 KiB
    # window, so only a decoder with the full 32 KiB window (gzip's default) can read it.
    block = secrets.token_hex(10_000)
    params = _callback(emulator.config.default_workspace_sid, WorkerAttributes=block, TaskAttributes=block)
    headers = {"Content-Type": FORM, "X-Twilio-Signature": compute_signature(gateway.webhook_url, params, token),
               "Content-Encoding": label}
    raw = urlencode(params).encode()
    assert len(gzip.compress(raw)) < 30_000  # the repeat was found: it is a back-reference
    # A zlib stream labelled gzip: only a decoder that guesses the header would take it.
    status, text = await _post(http, gateway.webhook_url, zlib.compress(raw), headers)
    assert status == 400 and f"not valid {label}" in _reason(text)
    status, text = await _post(http, gateway.webhook_url, gzip.compress(raw), headers)
    assert status == 204, text


async def test_a_truncated_gzip_body_is_400(gateway, http, emulator):
    params = _callback(emulator.config.default_workspace_sid)
    headers = {"Content-Type": FORM, "Content-Encoding": "gzip",
               "X-Twilio-Signature": compute_signature(gateway.webhook_url, params, emulator.config.auth_token)}
    body = gzip.compress(urlencode(params).encode())
    status, text = await _post(http, gateway.webhook_url, body[:-6], headers)
    assert status == 400 and "not valid gzip" in _reason(text)


# -- form values -------------------------------------------------------------------------------------------


async def test_blank_parameters_are_part_of_what_is_signed(gateway, http, emulator):
    token = emulator.config.auth_token
    params = _callback(emulator.config.default_workspace_sid, TaskQueueSid="", WorkerActivityName="")
    headers = {"Content-Type": FORM, "X-Twilio-Signature": compute_signature(gateway.webhook_url, params, token)}
    status, text = await _post(http, gateway.webhook_url, urlencode(params).encode(), headers)
    assert status == 204, text
    stored = await gateway.event_log.get(params["Sid"])
    assert stored is not None and orjson.loads(stored.payload[len(records.CALLBACK):])["TaskQueueSid"] == ""


async def test_a_signed_form_with_u_fffd_and_blank_values_is_accepted(gateway, http, emulator):
    # A real U+FFFD (sent as its UTF-8 escape) must not be mistaken for an undecodable escape, and the strict
    # re-parse it triggers must keep blank values just as the fast parser does.
    token = emulator.config.auth_token
    params = _callback(emulator.config.default_workspace_sid, WorkerName="Al\ufffdce", TaskQueueSid="")
    headers = {"Content-Type": FORM, "X-Twilio-Signature": compute_signature(gateway.webhook_url, params, token)}
    body = urlencode(params, quote_via=quote).encode()
    assert b"%EF%BF%BD" in body
    status, text = await _post(http, gateway.webhook_url, body, headers)
    assert status == 204, text
    stored = await gateway.event_log.get(params["Sid"])
    assert stored is not None
    assert orjson.loads(stored.payload[len(records.CALLBACK):])["WorkerName"] == "Al\ufffdce"


@pytest.mark.parametrize("body", [b"%ff=1&EventType=worker.created", b"EventType=worker.created&Name=%c3"])
async def test_an_undecodable_escape_in_a_name_or_a_value_is_400(gateway, http, body):
    headers = {"Content-Type": FORM, "X-Twilio-Signature": "c2ln"}
    status, text = await _post(http, gateway.webhook_url, body, headers)
    assert status == 400, text
    assert _reason(text) == "form body is not UTF-8"


async def test_a_signed_callback_that_is_not_a_valid_callback_is_400_naming_the_field(gateway, http, emulator):
    params = _callback(emulator.config.default_workspace_sid)
    del params["EventType"]
    headers = {"Content-Type": FORM,
               "X-Twilio-Signature": compute_signature(gateway.webhook_url, params, emulator.config.auth_token)}
    status, text = await _post(http, gateway.webhook_url, urlencode(params).encode(), headers)
    assert status == 400, text
    assert _reason(text) == "malformed callback: missing EventType"


async def test_a_callback_without_a_timestamp_is_dated_when_it_was_received(gateway, http, emulator):
    params = _callback(emulator.config.default_workspace_sid)
    del params["Timestamp"], params["TimestampMs"]
    headers = {"Content-Type": FORM,
               "X-Twilio-Signature": compute_signature(gateway.webhook_url, params, emulator.config.auth_token)}
    before_ms = time.time_ns() // 1_000_000
    status, text = await _post(http, gateway.webhook_url, urlencode(params).encode(), headers)
    after_ms = time.time_ns() // 1_000_000
    assert status == 204, text
    stored = await gateway.event_log.get(params["Sid"])
    assert stored is not None and before_ms <= stored.event_date_ms <= after_ms


async def test_content_type_reason_names_what_was_sent(gateway, http):
    status, text = await _post(http, gateway.webhook_url, b"x", {"Content-Type": "text/csv",
                                                                  "X-Twilio-Signature": "c2ln"})
    assert status == 400
    assert _reason(text).endswith("got text/csv")


LONG = "x" * 150


@pytest.mark.parametrize(("headers", "reason"), [
    ({"Content-Type": f"text/{LONG}"}, f"got {('text/' + LONG)[:100]}"),
    ({"Content-Type": f"{FORM}; charset={LONG}"}, f"charset must be utf-8, got {LONG[:40]!r}"),
    ({"Content-Type": FORM, "Content-Encoding": LONG}, f"unsupported Content-Encoding {LONG[:40]!r} (gzip, deflate or none)"),
])
async def test_echoed_header_values_are_cut_to_a_fixed_length(gateway, http, headers, reason):
    # What a sender wrote is echoed back only in part: a reply (and a log line) stays small whatever it sent.
    status, text = await _post(http, gateway.webhook_url, b"x", {"X-Twilio-Signature": "c2ln", **headers})
    assert status == 400
    assert _reason(text).endswith(reason)


async def test_a_missing_signature_is_403_naming_the_header(gateway, http):
    status, text = await _post(http, gateway.webhook_url, b"EventType=a", {"Content-Type": FORM})
    assert status == 403
    assert _reason(text) == "missing X-Twilio-Signature header"


async def _until(predicate, timeout: float = 10.0) -> None:
    """Waits for a condition the server reaches on its own (no answer can reach a client that left)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_a_sender_that_leaves_mid_body_is_counted_as_refused_not_an_error(gateway, emulator, monkeypatch):
    monkeypatch.setattr(webhook, "rejections", webhook.RateLimitedLog())  # earlier tests' lines used this second's
    params = _callback(emulator.config.default_workspace_sid)
    signature = compute_signature(gateway.webhook_url, params, emulator.config.auth_token)
    parts = urlsplit(gateway.webhook_url)
    with capture_logs() as logs:  # before the request: the server may log as soon as the sender leaves
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        writer.write((f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: {FORM}\r\n"
                      f"X-Twilio-Signature: {signature}\r\nContent-Length: 5000\r\n\r\nEventType=wor").encode())
        await writer.drain()
        writer.close()
        await _until(lambda: gateway.webhook.refused.get(400) == 1)
    assert any(e.get("reason") == "cannot read the body: ConnectionResetError" for e in logs), logs
    assert await gateway.event_log.last_seq() == 0


# -- counters and the event log ----------------------------------------------------------------------------


async def test_refusals_are_counted_by_status_and_duplicates_apart_from_new_events(gateway, http, emulator):
    params = _callback(emulator.config.default_workspace_sid)
    headers = {"Content-Type": FORM,
               "X-Twilio-Signature": compute_signature(gateway.webhook_url, params, emulator.config.auth_token)}
    for _ in range(3):  # once new, then twice a duplicate (acknowledged again, stored once)
        status, text = await _post(http, gateway.webhook_url, urlencode(params).encode(), headers)
        assert status == 204, text
    await _post(http, gateway.webhook_url, b"x", {"Content-Type": "text/plain", "X-Twilio-Signature": "c2ln"})
    await _post(http, gateway.webhook_url, b"x", {"Content-Type": "text/plain", "X-Twilio-Signature": "c2ln"})
    await _post(http, gateway.webhook_url, b"EventType=a", {"Content-Type": FORM, "X-Twilio-Signature": "c2ln"})
    handler = gateway.webhook
    assert (handler.accepted, handler.duplicates) == (1, 2)
    assert handler.refused == {400: 2, 403: 1}
    assert await gateway.event_log.last_seq() == 1


async def test_a_callback_the_log_cannot_store_is_503_and_not_acknowledged(gateway, http, emulator):
    params = _callback(emulator.config.default_workspace_sid)
    headers = {"Content-Type": FORM,
               "X-Twilio-Signature": compute_signature(gateway.webhook_url, params, emulator.config.auth_token)}
    await gateway.event_log.close()
    with capture_logs() as logs:
        status, text = await _post(http, gateway.webhook_url, urlencode(params).encode(), headers)
    assert status == 503, text
    assert _reason(text) == "event log unavailable; not acknowledged"
    assert any(e["event"].startswith("event log append failed") and e["event_sid"] == params["Sid"] for e in logs)


# -- Expect ------------------------------------------------------------------------------------------------


async def _raw_request(url: str, head: list[str], body: bytes, *, wait_for_continue: bool) -> tuple[bytes, bytes]:
    """Sends the request line and headers, optionally waits for an interim answer, then the body. Returns
    (interim status line or b"", final response)."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        lines = [*head, f"Host: {parts.netloc}", f"Content-Length: {len(body)}", "Connection: close"]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        interim = b""
        if wait_for_continue:
            interim = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).split(b"\r\n")[0]
            if not interim.startswith(b"HTTP/1.1 100"):
                return interim, interim + await asyncio.wait_for(reader.read(), 10)
        writer.write(body)
        await writer.drain()
        return interim, await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


async def test_expect_100_continue_gets_an_interim_answer_then_the_callback_is_stored(gateway, emulator):
    params = _callback(emulator.config.default_workspace_sid)
    signature = compute_signature(gateway.webhook_url, params, emulator.config.auth_token)
    path = urlsplit(gateway.webhook_url).path
    head = [f"POST {path} HTTP/1.1", f"Content-Type: {FORM}", f"X-Twilio-Signature: {signature}",
            "Expect: 100-Continue"]
    interim, response = await _raw_request(gateway.webhook_url, head, urlencode(params).encode(),
                                           wait_for_continue=True)
    assert interim == b"HTTP/1.1 100 Continue"
    assert response.startswith(b"HTTP/1.1 204"), response[:200]
    assert await gateway.event_log.get(params["Sid"]) is not None


@pytest.mark.parametrize(("version", "expect"), [("1.1", "200-ok"), ("1.1", "100-continue, x"),
                                                 ("1.0", "100-continue")])
async def test_any_other_expect_is_417_with_a_reason_and_nothing_stored(gateway, emulator, version, expect):
    params = _callback(emulator.config.default_workspace_sid)
    signature = compute_signature(gateway.webhook_url, params, emulator.config.auth_token)
    path = urlsplit(gateway.webhook_url).path
    head = [f"POST {path} HTTP/{version}", f"Content-Type: {FORM}", f"X-Twilio-Signature: {signature}",
            f"Expect: {expect}"]
    interim, response = await _raw_request(gateway.webhook_url, head, urlencode(params).encode(),
                                           wait_for_continue=False)
    status_line, _, rest = response.partition(b"\r\n")
    assert status_line.split()[1] == b"417", response[:300]
    assert b"the only Expect value accepted is 100-continue" in rest
    assert b"100 Continue" not in response
    assert await gateway.event_log.last_seq() == 0


# -- the rejection log -------------------------------------------------------------------------------------


def test_each_line_carries_the_count_suppressed_since_the_line_before():
    now = [50.0]
    limited = webhook.RateLimitedLog(per_second=3, clock=lambda: now[0])
    with capture_logs() as logs:
        for burst in (5, 7, 2):
            for _ in range(burst):
                limited.warning("webhook request refused", reason="x")
            now[0] += 1.0
        limited.warning("webhook request refused", reason="last")
    assert [e.get("suppressed_since_last") for e in logs] == [None, None, None, 2, None, None, 4, None, None]
    assert limited.suppressed == 0 and logs[-1]["reason"] == "last"


def test_a_fresh_limiter_writes_in_its_first_second_whatever_the_clock_reads():
    for start in (0.0, 0.5, 1.0, 1e9):
        limited = webhook.RateLimitedLog(per_second=2, clock=lambda start=start: start)
        with capture_logs() as logs:
            written = [limited.warning("webhook request refused", reason="x") for _ in range(3)]
        assert written == [True, True, False] and len(logs) == 2, start
        assert limited.suppressed == 1


def test_the_default_limit_is_ten_lines_a_second():
    limited = webhook.RateLimitedLog(clock=lambda: 7.0)
    with capture_logs() as logs:
        written = sum(limited.warning("webhook request refused", reason="x") for _ in range(25))
    assert written == 10 == len(logs) and limited.suppressed == 15


def test_refusal_reasons_are_cut_to_200_characters_in_the_log(monkeypatch):
    monkeypatch.setattr(webhook, "rejections", webhook.RateLimitedLog())
    with capture_logs() as logs:
        response = webhook._refuse(400, "r" * 500)
    assert response.status == 400
    assert json.loads(response.text) == {"error": "r" * 500, "status": 400}
    assert len(logs[0]["reason"]) == 200


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_http_server_errors_are_rate_limited_one_liners_that_do_not_reach_the_root_logger(monkeypatch):
    monkeypatch.setattr(webhook, "rejections", webhook.RateLimitedLog())
    logger = webhook.server_logger()
    assert webhook.server_logger() is logger  # a second call adds no second handler: one line per error
    assert sum(isinstance(h, webhook._OneLineHandler) for h in logger.handlers) == 1
    assert webhook.runner_options()["logger"] is logger
    root = _Collect()
    logging.getLogger().addHandler(root)
    try:
        with capture_logs() as logs:
            try:
                raise ValueError("Bad status line " + "b" * 300)
            except ValueError:
                logger.exception("Error handling request")
            logger.error("plain %s", "message")
    finally:
        logging.getLogger().removeHandler(root)
    assert root.records == []  # no propagation: the root's handlers would print the traceback
    reasons = [e["reason"] for e in logs if e["event"] == "webhook request refused by the HTTP server"]
    assert reasons == [("ValueError: Bad status line " + "b" * 300)[:200], "plain message"]
    assert all("exc_info" not in e for e in logs)


def test_runner_options_leave_bodies_encoded_and_switch_the_access_log_off():
    options = webhook.runner_options()
    assert options["auto_decompress"] is False and options["access_log"] is None
