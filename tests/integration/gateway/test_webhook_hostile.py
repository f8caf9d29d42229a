"""The webhook under hostile input: every bad request gets a 4xx with a reason, never a 5xx, and the log
gets one rate-limited line per rejection, never a traceback."""

from __future__ import annotations

import gzip
import json
import socket
import zlib
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import aiohttp
import pytest
from callback_fixtures import live_callback
from hypothesis import HealthCheck, given, settings, strategies as st
from structlog.testing import capture_logs

from taskrouter_gateway.ingest import webhook
from taskrouter_gateway.ingest.signature import compute_signature

from threaded_gateway import threaded_gateway

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "callbacks"
FORM = "application/x-www-form-urlencoded"


def _callback(workspace_sid: str) -> dict[str, str]:
    return live_callback(WorkspaceSid=workspace_sid)


@pytest.fixture
async def http():
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session


HOSTILE = [
    # (body, content type, extra headers, words the reason must contain)
    (b"EventType=\xff\xfe", FORM, {}, "not UTF-8"),
    (b"EventType=%ff%fe", FORM, {}, "not UTF-8"),
    (b"EventType=a", FORM + "; charset=bogus", {}, "charset"),
    (b"EventType=a", FORM + "; charset=utf-16", {}, "charset"),
    (b"EventType=a", FORM, {"Content-Encoding": "gzip"}, "not valid gzip"),
    (b"EventType=a", FORM, {"Content-Encoding": "deflate"}, "not valid deflate"),
    (gzip.compress(b"EventType=a") + b"junk", FORM, {"Content-Encoding": "gzip"}, "not valid gzip"),
    (b"EventType=a", FORM, {"Content-Encoding": "br"}, "Content-Encoding"),
    (b"{}", "application/json", {"Content-Encoding": "gzip"}, "not valid gzip"),
    (b"EventType=a", "text/plain", {}, "Content-Type"),
]


@pytest.mark.parametrize(("body", "content_type", "headers", "reason"), HOSTILE)
async def test_malformed_requests_get_400_with_a_reason(gateway, http, body, content_type, headers, reason):
    headers = {"Content-Type": content_type, "X-Twilio-Signature": "c2lnbmF0dXJl", **headers}
    async with http.post(gateway.webhook_url, data=body, headers=headers) as resp:
        text = await resp.text()
        assert resp.status == 400, text
    assert reason in json.loads(text)["error"]
    assert await gateway.event_log.last_seq() == 0


async def test_a_decompression_bomb_is_413(make_gateway, http):
    gw = await make_gateway(webhook_max_body=1024)
    bomb = gzip.compress(b"a" * 10_000_000)
    headers = {"Content-Type": FORM, "X-Twilio-Signature": "c2ln", "Content-Encoding": "gzip"}
    async with http.post(gw.webhook_url, data=bomb, headers=headers) as resp:
        assert resp.status == 413, await resp.text()


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "identity"])
async def test_a_signed_compressed_callback_is_accepted(gateway, http, emulator, encoding):
    params = _callback(emulator.config.default_workspace_sid)
    url = gateway.webhook_url
    raw = urlencode(params).encode()
    body = {"gzip": gzip.compress, "deflate": zlib.compress, "identity": bytes}[encoding](raw)
    headers = {"Content-Type": FORM, "Content-Encoding": encoding,
               "X-Twilio-Signature": compute_signature(url, params, emulator.config.auth_token)}
    async with http.post(url, data=body, headers=headers) as resp:
        assert resp.status == 204, await resp.text()
    assert await gateway.event_log.get(params["Sid"]) is not None


async def test_a_flood_of_bad_requests_logs_counted_one_liners_and_no_traceback(gateway, http, capfd, monkeypatch):
    monkeypatch.setattr(webhook, "rejections", webhook.RateLimitedLog())
    sent = 0
    with capture_logs() as logs:
        for _ in range(30):
            for body, content_type, headers, _reason in HOSTILE:
                headers = {"Content-Type": content_type, "X-Twilio-Signature": "c2ln", **headers}
                async with http.post(gateway.webhook_url, data=body, headers=headers) as resp:
                    assert resp.status == 400
                sent += 1
    refused = [entry for entry in logs if entry["event"] == "webhook request refused"]
    assert refused and all(entry["reason"] and entry["status"] == 400 for entry in refused)
    # Every rejection is either a line or counted on a later line (or still pending).
    counted = len(refused) + sum(e.get("suppressed_since_last", 0) for e in refused) + webhook.rejections.suppressed
    assert counted == sent
    assert all("exc_info" not in entry and "exception" not in entry for entry in logs)
    assert "Traceback" not in capfd.readouterr().err


def test_rejection_log_is_rate_limited_per_second():
    now = [100.0]
    limited = webhook.RateLimitedLog(per_second=10, clock=lambda: now[0])
    with capture_logs() as logs:
        written = sum(limited.warning("webhook request refused", reason="x") for _ in range(1000))
        now[0] += 1.0
        limited.warning("webhook request refused", reason="y")
    assert written == 10 and len(logs) == 11
    assert logs[-1]["suppressed_since_last"] == 990


# -- fuzz: thousands of malformed requests over raw sockets against a real server ---------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with threaded_gateway(tmp_path_factory.mktemp("fuzz") / "events.sqlite3") as running:
        yield running


def _raw_post(url: str, headers: list[tuple[bytes, bytes]], body: bytes) -> int:
    """Sends bytes as given (no client-side checks) and returns the status code the server answers."""
    parts = urlsplit(url)
    lines = [f"POST {parts.path}?{parts.query} HTTP/1.1".encode(), f"Host: {parts.netloc}".encode(),
             b"Connection: close", f"Content-Length: {len(body)}".encode()]
    lines += [name + b": " + value for name, value in headers]
    request = b"\r\n".join(lines) + b"\r\n\r\n" + body
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        reply = b""
        while b"\r\n" not in reply:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    status_line = reply.split(b"\r\n", 1)[0]
    return int(status_line.split()[1])


_text = st.text(max_size=40)
_header_value = st.binary(max_size=60).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
_content_types = st.one_of(
    st.sampled_from([FORM, "application/json", FORM + "; charset=utf-8", FORM + "; charset=latin-1",
                     "application/json; charset=utf-16", "multipart/form-data; boundary=x", "text/plain", ""]),
    _header_value,
)
_encodings = st.one_of(st.sampled_from(["", "gzip", "deflate", "br", "identity", "gzip, gzip", "x-gzip"]),
                       _header_value)
_bodies = st.one_of(
    st.binary(max_size=300),
    st.lists(st.tuples(_text, _text), max_size=8).map(lambda pairs: urlencode(pairs).encode()),
    st.dictionaries(_text, st.one_of(_text, st.integers(), st.none(), st.lists(st.integers(), max_size=3)),
                    max_size=6).map(lambda d: json.dumps(d).encode()),
)


def _form_signature(url: str, body: bytes, token: str) -> str | None:
    try:
        return compute_signature(url, parse_qsl(body.decode(), keep_blank_values=True, errors="strict"), token)
    except (UnicodeDecodeError, ValueError):
        return None


FUZZ = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(body=_bodies, content_type=_content_types, encoding=_encodings, sign=st.booleans(),
       compress=st.sampled_from([None, "gzip", "deflate"]))
def test_fuzz_bodies_content_types_and_encodings_never_5xx(served, body, content_type, encoding, sign, compress):
    url = served.gateway.webhook_url
    signature = (_form_signature(url, body, served.gateway.settings.auth_token) if sign else None) or "c2ln"
    headers = [(b"Content-Type", content_type.encode() if isinstance(content_type, str) else content_type),
               (b"X-Twilio-Signature", signature.encode())]
    if compress:
        body = gzip.compress(body) if compress == "gzip" else zlib.compress(body)
        headers.append((b"Content-Encoding", compress.encode()))
    elif encoding:
        headers.append((b"Content-Encoding", encoding.encode() if isinstance(encoding, str) else encoding))
    status = _raw_post(url, headers, body)
    assert 200 <= status < 500, status


_header_names = st.one_of(
    st.sampled_from([b"X-Twilio-Signature", b"Content-Type", b"Content-Encoding", b"Transfer-Encoding",
                     b"Host", b"Expect", b"I-Twilio-Idempotency-Token", b"Connection"]),
    st.binary(min_size=1, max_size=20).filter(lambda b: b"\r" not in b and b"\n" not in b and b":" not in b),
)


@FUZZ
@given(headers=st.lists(st.tuples(_header_names, _header_value), max_size=6), body=_bodies,
       query=st.text(max_size=40))
def test_fuzz_headers_and_query_never_5xx(served, headers, body, query):
    # Transfer-Encoding with Content-Length is a framing conflict the server must refuse, not answer 5xx to.
    url = served.gateway.webhook_url + "?" + urlencode({"q": query})
    status = _raw_post(url, [(b"Content-Type", FORM.encode()), *headers], body)
    assert 200 <= status < 500, status


# -- the URL a signature is checked against -------------------------------------------------------------


async def _post_signed(http, url, params, signed_url, token, host=None):
    headers = {"X-Twilio-Signature": compute_signature(signed_url, params, token)}
    if host is not None:
        headers["Host"] = host
    async with http.post(url, data=params, headers=headers) as resp:
        return resp.status, await resp.text()


async def test_a_callback_signed_for_another_url_is_refused_whatever_the_host_header(gateway, http, emulator):
    token, url = emulator.config.auth_token, gateway.webhook_url
    params = _callback(emulator.config.default_workspace_sid)
    other = "http://other-service.invalid/twilio/taskrouter/events"
    status, text = await _post_signed(http, url, params, other, token, host="other-service.invalid")
    assert status == 403, text
    # Signed for our URL: accepted, whatever Host the sender wrote.
    status, text = await _post_signed(http, url, params, url, token, host="other-service.invalid")
    assert status == 204, text
    assert await gateway.event_log.last_seq() == 1


async def test_the_public_urls_query_string_is_part_of_what_is_signed(make_gateway, http, emulator):
    public = "https://gw.example.com/twilio/taskrouter/events?tenant=acme"
    gw = await make_gateway(webhook_public_url=public)
    token = emulator.config.auth_token
    params = _callback(emulator.config.default_workspace_sid)
    local = f"http://127.0.0.1:{gw.webhook_port}/twilio/taskrouter/events"
    for signed in (public.split("?")[0], public.replace("acme", "other"), local):
        status, text = await _post_signed(http, local, params, signed, token, host="gw.example.com")
        assert status == 403, (signed, text)
    status, text = await _post_signed(http, local + "?tenant=acme", params, public, token)
    assert status == 204, text
