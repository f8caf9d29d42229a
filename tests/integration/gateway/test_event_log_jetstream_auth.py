"""The JetStream log signing in to real nats-servers that require it: a token, and a .creds file (a user JWT and
its nkey seed) against a server in operator mode, as NGS/Synadia Cloud and most managed NATS deployments run.

The operator, account and user JWTs are minted here with nkeys (nats-py's [nkeys] extra), the way `nsc` makes
them, so the test needs no tool beside nats-server. User and password are in test_event_log_jetstream.py."""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path

import nkeys
import pytest
from natsutil import NatsNode, wait_for
from test_event_log_jetstream import ev

from taskrouter_gateway.eventlog.jetstream.log import JetStreamEventLog, NatsOptions, StreamOptions
from taskrouter_gateway.eventlog.log import EventLogClosed, EventLogOpenError

_UNLIMITED = {k: -1 for k in ("subs", "data", "payload", "imports", "exports", "conn", "leaf")}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _keypair(prefix: int) -> nkeys.KeyPair:
    return nkeys.from_seed(nkeys.encode_seed(os.urandom(32), prefix))


def _jwt(issuer: nkeys.KeyPair, subject: nkeys.KeyPair, name: str, nats: dict) -> str:
    """A NATS JWT (v2 claims), signed by its issuer's nkey."""
    claims = {"jti": _b64(os.urandom(16)), "iat": int(time.time()), "iss": issuer.public_key.decode(),
              "name": name, "sub": subject.public_key.decode(), "nats": {**nats, "version": 2}}
    head = _b64(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
    body = _b64(json.dumps(claims).encode())
    return f"{head}.{body}.{_b64(issuer.sign(f'{head}.{body}'.encode()))}"


def _operator_mode(directory: Path, *, streams: int = -1) -> tuple[list[str], Path]:
    """Server config lines for an operator with a system account and one JetStream-enabled account (allowed
    `streams` streams, -1: any number), and a .creds file for a user of that account."""
    operator, system, account, user = (_keypair(p) for p in (nkeys.PREFIX_BYTE_OPERATOR, nkeys.PREFIX_BYTE_ACCOUNT,
                                                              nkeys.PREFIX_BYTE_ACCOUNT, nkeys.PREFIX_BYTE_USER))
    jetstream = {"mem_storage": -1, "disk_storage": -1, "streams": streams, "consumer": -1}
    accounts = {
        system.public_key.decode(): _jwt(operator, system, "SYS", {"type": "account", "limits": _UNLIMITED}),
        account.public_key.decode(): _jwt(operator, account, "gateway", {
            "type": "account", "limits": {**_UNLIMITED, **jetstream, "wildcards": True}}),
    }
    user_jwt = _jwt(account, user, "gateway", {"type": "user", "pub": {}, "sub": {}, "subs": -1, "data": -1,
                                               "payload": -1})
    creds = directory / "gateway.creds"
    creds.write_text(f"-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n"
                     f"-----BEGIN USER NKEY SEED-----\n{user.seed.decode()}\n------END USER NKEY SEED------\n")
    preload = ", ".join(f'{key}: "{token}"' for key, token in accounts.items())
    lines = [f'operator: "{_jwt(operator, operator, "operator", {"type": "operator"})}"', "resolver: MEMORY",
             f"system_account: {system.public_key.decode()}", f"resolver_preload: {{ {preload} }}"]
    return lines, creds


async def _append_one(options: NatsOptions) -> int:
    log = JetStreamEventLog(options)
    await log.open()
    try:
        [result] = await log.append([ev(1)])
        return result.seq
    finally:
        await log.close()


async def test_a_credentials_file_signs_in_to_a_broker_in_operator_mode(tmp_path: Path) -> None:
    config, creds = _operator_mode(tmp_path)
    node = NatsNode("operator", tmp_path, extra=config)
    node.start()
    try:
        wait_for(node.healthy, 30, "nats-server in operator mode")
        assert await _append_one(NatsOptions(servers=(node.url,), credentials_file=str(creds))) == 1
        without = NatsOptions(servers=(node.url,), connect_timeout_s=2.0)
        with pytest.raises(EventLogOpenError, match="cannot connect to NATS"):
            await _append_one(without)
        missing = NatsOptions(servers=(node.url,), credentials_file=str(tmp_path / "missing.creds"),
                              connect_timeout_s=2.0)
        with pytest.raises(EventLogOpenError, match="credentials file cannot be used: .*No such file"):
            await _append_one(missing)
        # A malformed file: nats.py alone would fail inside the sign-in with a TypeError.
        garbage = tmp_path / "garbage.creds"
        garbage.write_text("not a creds file\n")
        with pytest.raises(EventLogOpenError, match="credentials file cannot be used: .*holds no user JWT"):
            await _append_one(NatsOptions(servers=(node.url,), credentials_file=str(garbage), connect_timeout_s=2.0))
    finally:
        node.stop()


async def test_a_token_reaches_the_broker_and_a_wrong_one_is_a_clear_error_that_does_not_show_it(tmp_path: Path) -> None:
    node = NatsNode("token", tmp_path, extra=['authorization { token: "s3cret-token" }'])
    node.start()
    try:
        wait_for(node.healthy, 30, "nats-server with a token")
        assert await _append_one(NatsOptions(servers=(node.url,), token="s3cret-token")) == 1
        with pytest.raises(EventLogOpenError) as caught:
            await _append_one(NatsOptions(servers=(node.url,), token="wrong-token", connect_timeout_s=2.0))
        assert "cannot connect to NATS" in str(caught.value) and "wrong-token" not in str(caught.value)
    finally:
        node.stop()


async def test_an_account_that_may_not_create_the_marks_bucket_stops_open_with_a_clear_error(tmp_path: Path) -> None:
    # The account may hold one stream: the events stream is created, the shared-marks bucket (a second stream)
    # is refused. The log must not open half-working, and must say why.
    config, creds = _operator_mode(tmp_path, streams=1)
    node = NatsNode("limited", tmp_path, extra=config)
    node.start()
    try:
        wait_for(node.healthy, 30, "nats-server in operator mode")
        log = JetStreamEventLog(NatsOptions(servers=(node.url,), credentials_file=str(creds)),
                                StreamOptions(name="LIMITED", prefix="limited"))
        reason = r"shared marks \(LIMITED_marks\) unavailable: .*err_code=10027.*maximum number of streams reached"
        with pytest.raises(EventLogOpenError, match=reason):
            await log.open()
        with pytest.raises(EventLogClosed):  # not opened half-working
            await log.append([ev(1)])
    finally:
        node.stop()
