"""What the JetStream log is told: stream settings refused at their edges, the stream config it asks the broker
for, every way an existing stream can be unusable named in one phrase, and TLS for the NATS connection."""

from __future__ import annotations

import dataclasses
import datetime
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from nats.js import api

from taskrouter_gateway.eventlog.jetstream.options import (
    MIN_DUPLICATE_WINDOW_S,
    NatsOptions,
    StreamOptions,
    redact_url,
)
from taskrouter_gateway.eventlog.log import DAY_MS


def test_the_defaults_a_deployment_gets() -> None:
    # eventlog/backends.py sets neither timeouts nor the window: these are the values every replica runs with.
    nats = NatsOptions()
    assert nats.servers == ("nats://127.0.0.1:4222",) and nats.name == "taskrouter-gateway"
    assert (nats.credentials_file, nats.user, nats.password, nats.token) == (None, None, None, None)
    assert (nats.connect_timeout_s, nats.forming_wait_s) == (5.0, 30.0)
    stream = StreamOptions()
    assert (stream.name, stream.prefix, stream.replicas) == ("TASKROUTER_EVENTS", "taskrouter.events", 1)
    assert stream.max_age_ms == 30 * 24 * 3600 * 1000 and (stream.max_bytes, stream.max_msgs) == (None, None)
    assert stream.duplicate_window_s == MIN_DUPLICATE_WINDOW_S == 3600.0  # one hour (deploy/README.md)


def test_options_are_frozen_and_hashable() -> None:
    for options in (NatsOptions(), StreamOptions()):
        with pytest.raises(dataclasses.FrozenInstanceError):
            options.name = "other"  # type: ignore[misc]
        assert hash(options) == hash(dataclasses.replace(options))


@pytest.mark.parametrize("name", ["A", "a" * 32, "Events_1-b", "0"])
def test_stream_names_of_1_to_32_safe_characters_are_accepted(name: str) -> None:
    assert StreamOptions(name=name).config().name == name


@pytest.mark.parametrize("name", ["", "a" * 33, "EVENTS.X", "EVENTS X", "EVENTS*", "EVENTS>", "évents"])
def test_other_stream_names_are_refused_naming_the_value(name: str) -> None:
    with pytest.raises(ValueError, match="stream name must be 1-32") as raised:
        StreamOptions(name=name)
    assert repr(name) in str(raised.value)


@pytest.mark.parametrize("prefix", ["a", "taskrouter.events", "A-1.b_2.c", "x.y.z.w"])
def test_dot_separated_safe_tokens_are_a_valid_prefix(prefix: str) -> None:
    assert StreamOptions(prefix=prefix).config().subjects == [f"{prefix}.>"]


@pytest.mark.parametrize("prefix", ["", ".a", "a.", "a..b", "a.>", "a.*", "a b", "a.b."])
def test_other_prefixes_are_refused_naming_the_value(prefix: str) -> None:
    with pytest.raises(ValueError, match="subject prefix must be dot-separated tokens") as raised:
        StreamOptions(prefix=prefix)
    assert repr(prefix) in str(raised.value)


@pytest.mark.parametrize("replicas", [1, 3])
def test_one_or_three_replicas(replicas: int) -> None:
    assert StreamOptions(replicas=replicas).config().num_replicas == replicas


@pytest.mark.parametrize("replicas", [0, 2, 4, 5, -1])
def test_any_other_replica_count_is_refused(replicas: int) -> None:
    with pytest.raises(ValueError, match=f"replicas must be 1 or 3, got {replicas}"):
        StreamOptions(replicas=replicas)


def test_the_smallest_limits_are_accepted() -> None:
    smallest = StreamOptions(max_age_ms=1, max_bytes=1, max_msgs=1, duplicate_window_s=0.001)
    config = smallest.config()
    assert (config.max_age, config.max_bytes, config.max_msgs, config.duplicate_window) == (0.001, 1, 1, 0.001)


@pytest.mark.parametrize("limits", [{"max_age_ms": 0}, {"max_age_ms": -1}, {"max_bytes": 0}, {"max_bytes": -1}])
def test_age_and_size_limits_must_be_positive(limits: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="max_age_ms and max_bytes must be > 0"):
        StreamOptions(duplicate_window_s=0.001, **limits)


@pytest.mark.parametrize("max_msgs", [0, -1])
def test_a_message_cap_must_be_positive(max_msgs: int) -> None:
    with pytest.raises(ValueError, match="max_msgs must be > 0"):
        StreamOptions(max_msgs=max_msgs)


def test_the_duplicate_window_may_be_as_long_as_the_retention_and_no_longer() -> None:
    assert StreamOptions(max_age_ms=3_600_000, duplicate_window_s=3600).config().duplicate_window == 3600
    assert StreamOptions(max_age_ms=3_600_000, duplicate_window_s=0.5).config().duplicate_window == 0.5
    assert StreamOptions(max_age_ms=3_600_000, duplicate_window_s=1).config().duplicate_window == 1
    for window in (3600.5, 3601, 3603, 3_600_000, 0, -1, -0.5):
        with pytest.raises(ValueError, match="duplicate_window_s must be > 0 and at most max_age"):
            StreamOptions(max_age_ms=3_600_000, duplicate_window_s=window)


def test_the_stream_config_asked_of_the_broker() -> None:
    config = StreamOptions(name="EV", prefix="tr.ev", replicas=3, max_age_ms=86_401_500, max_bytes=10_000,
                           duplicate_window_s=7200.0, max_msgs=500).config()
    assert config.name == "EV" and config.subjects == ["tr.ev.>"] and config.num_replicas == 3
    assert config.retention == api.RetentionPolicy.LIMITS and config.storage == api.StorageType.FILE
    assert config.discard == api.DiscardPolicy.OLD
    assert (config.max_age, config.max_bytes, config.max_msgs) == (86_401.5, 10_000, 500)
    assert config.duplicate_window == 7200.0
    # Gap-free seqs: nothing but retention may ever remove a message.
    assert config.deny_delete is True and config.deny_purge is True


def test_no_cap_is_asked_as_minus_one() -> None:
    config = StreamOptions().config()
    assert (config.max_bytes, config.max_msgs) == (-1, -1)
    assert config.max_age == 30 * DAY_MS / 1000


def _have(options: StreamOptions, **changes: object) -> api.StreamConfig:
    return dataclasses.replace(options.config(), **changes)


@pytest.mark.parametrize("options", [
    StreamOptions(),
    StreamOptions(name="X", prefix="a.b", replicas=3, max_age_ms=5_000, max_bytes=1 << 20, duplicate_window_s=5,
                  max_msgs=10),
])
def test_a_stream_made_from_these_options_has_no_conflict(options: StreamOptions) -> None:
    assert options.conflicts(options.config()) == []


def test_each_mismatch_is_named_in_its_own_phrase() -> None:
    options = StreamOptions(max_bytes=1 << 20)
    cases: list[tuple[dict[str, object], str]] = [
        ({"subjects": ["other.>"]}, "subjects is ['other.>'] (want ['taskrouter.events.>'])"),
        ({"storage": api.StorageType.MEMORY}, "storage is memory (want file)"),
        ({"num_replicas": 3}, "replicas is 3 (want 1)"),
        ({"retention": api.RetentionPolicy.WORK_QUEUE}, "retention is workqueue (want limits)"),
        ({"discard": api.DiscardPolicy.NEW}, "discard is new (want old)"),
        ({"max_age": 86_400.0}, "max_age seconds is 86400 (want 2592000)"),
        ({"max_bytes": -1}, "max_bytes is -1 (want 1048576)"),
        ({"max_msgs": 100}, "max_msgs is 100 (want -1)"),
        ({"duplicate_window": 120.0}, "duplicate_window is 120.0s (want at least 3600.0s)"),
    ]
    for changes, phrase in cases:
        assert options.conflicts(_have(options, **changes)) == [phrase], changes


def test_unset_limits_on_an_existing_stream_read_as_none() -> None:
    # nats-py leaves fields the server did not send as None: no caps, no age limit, no window.
    options = StreamOptions()
    assert options.conflicts(_have(options, max_bytes=None, max_msgs=None)) == []
    capped = StreamOptions(max_bytes=100, max_msgs=5)
    assert capped.conflicts(_have(capped, max_bytes=None, max_msgs=None)) == [
        "max_bytes is -1 (want 100)", "max_msgs is -1 (want 5)"]
    assert options.conflicts(_have(options, max_age=None)) == ["max_age seconds is 0 (want 2592000)"]
    one_second = StreamOptions(max_age_ms=1_000, duplicate_window_s=1)
    assert one_second.conflicts(_have(one_second, max_age=None)) == ["max_age seconds is 0 (want 1)"]
    assert options.conflicts(_have(options, duplicate_window=None)) == [
        "duplicate_window is Nones (want at least 3600.0s)"]


def test_enum_fields_as_plain_strings_compare_by_value() -> None:
    options = StreamOptions()
    assert options.conflicts(_have(options, storage="file", retention="limits", discard="old")) == []
    assert options.conflicts(_have(options, storage="memory")) == ["storage is memory (want file)"]


def test_max_age_is_compared_in_whole_seconds() -> None:
    options = StreamOptions()
    assert options.conflicts(_have(options, max_age=2_592_000.4)) == []
    assert options.conflicts(_have(options, max_age=2_592_000.6)) == ["max_age seconds is 2592001 (want 2592000)"]


@pytest.mark.parametrize("deny", [{"deny_delete": False}, {"deny_purge": False},
                                  {"deny_delete": False, "deny_purge": False}])
def test_a_stream_that_allows_deletes_or_purges_is_refused(deny: dict[str, bool]) -> None:
    options = StreamOptions()
    assert options.conflicts(_have(options, **deny)) == [
        "deletes or purges are allowed (both must be denied so seqs stay gap-free)"]


def test_a_longer_duplicate_window_is_fine_and_a_shorter_one_only_within_a_millisecond() -> None:
    options = StreamOptions()  # 3600 s
    assert options.conflicts(_have(options, duplicate_window=86_400.0)) == []
    assert options.conflicts(_have(options, duplicate_window=3599.999)) == []  # float noise from nanoseconds
    assert options.conflicts(_have(options, duplicate_window=3599.99)) == [
        "duplicate_window is 3599.99s (want at least 3600.0s)"]
    assert options.conflicts(_have(options, duplicate_window=3599.5)) == [
        "duplicate_window is 3599.5s (want at least 3600.0s)"]
    # The tolerance is the same millisecond for the smallest windows.
    tiny = StreamOptions(duplicate_window_s=0.001)
    assert tiny.conflicts(_have(tiny, duplicate_window=None)) == []
    half = StreamOptions(duplicate_window_s=0.5)
    assert half.conflicts(_have(half, duplicate_window=None)) == ["duplicate_window is Nones (want at least 0.5s)"]
    assert half.conflicts(_have(half, duplicate_window=0.499)) == []


# -- TLS for the NATS connection --------------------------------------------------------------------------------

def _certificate(tmp_path, *, ca: bool) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nats test CA" if ca else "gateway")])
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1)))
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    cert = builder.sign(key, hashes.SHA256())
    stem = "ca" if ca else "client"
    cert_path, key_path = tmp_path / f"{stem}.crt", tmp_path / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def test_no_tls_files_means_no_tls_context() -> None:
    assert NatsOptions().tls_context() is None
    assert NatsOptions(tls_key="/nowhere/client.key").tls_context() is None  # a key alone is not TLS


def test_a_ca_alone_verifies_the_brokers_against_it(tmp_path) -> None:
    ca, _ = _certificate(tmp_path, ca=True)
    context = NatsOptions(tls_ca=ca).tls_context()
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [dict(item[0] for item in cert["subject"]) for cert in context.get_ca_certs()] == [
        {"commonName": "nats test CA"}]


def test_a_client_certificate_is_loaded_with_or_without_a_ca(tmp_path) -> None:
    ca, _ = _certificate(tmp_path, ca=True)
    cert, key = _certificate(tmp_path, ca=False)
    assert NatsOptions(tls_cert=cert, tls_key=key).tls_context() is not None
    context = NatsOptions(tls_ca=ca, tls_cert=cert, tls_key=key).tls_context()
    assert context is not None and len(context.get_ca_certs()) == 1
    # The certificate really is read: one that does not match its key, or is missing, is refused here.
    other = tmp_path / "other"
    other.mkdir()
    _, other_key = _certificate(other, ca=False)
    with pytest.raises(ssl.SSLError):
        NatsOptions(tls_ca=ca, tls_cert=cert, tls_key=other_key).tls_context()
    with pytest.raises(OSError):
        NatsOptions(tls_cert=str(tmp_path / "missing.crt"), tls_key=key).tls_context()


def test_credentials_in_a_url_are_masked() -> None:
    assert redact_url("nats://gw:s3cret@nats-1:4222") == "nats://***@nats-1:4222"
    assert redact_url("tls://token@nats-1:4222") == "tls://***@nats-1:4222"
    assert redact_url("nats://nats-1:4222") == "nats://nats-1:4222"


def _creds(tmp_path, jwt: str = "eyJhIjoxfQ.eyJiIjoyfQ.c2ln", seed: str | None = None) -> str:
    import os

    import nkeys

    seed = seed if seed is not None else nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER).decode()
    path = tmp_path / "user.creds"
    path.write_text(f"-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n"
                    f"-----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n")
    return str(path)


def test_a_creds_file_with_a_user_jwt_and_seed_is_accepted_and_none_needs_no_file(tmp_path) -> None:
    NatsOptions().check_credentials()
    NatsOptions(credentials_file=_creds(tmp_path)).check_credentials()
    # Without its END lines, as nats.py reads it too: each value is the line after its BEGIN line.
    path = Path(_creds(tmp_path))
    path.write_text("\n".join(line for line in path.read_text().splitlines() if "END" not in line))
    NatsOptions(credentials_file=str(path)).check_credentials()


def test_a_creds_file_nats_py_would_choke_on_is_refused_up_front(tmp_path) -> None:
    import os

    import nkeys

    with pytest.raises(FileNotFoundError):
        NatsOptions(credentials_file=str(tmp_path / "missing.creds")).check_credentials()
    # No JWT block: nats.py would read past the end of the file for ever.
    no_jwt = tmp_path / "seed-only.creds"
    no_jwt.write_text("-----BEGIN USER NKEY SEED-----\nSUAAAA\n------END USER NKEY SEED------\n")
    with pytest.raises(ValueError, match="holds no user JWT"):
        NatsOptions(credentials_file=str(no_jwt)).check_credentials()
    with pytest.raises(ValueError, match="holds no user JWT"):
        NatsOptions(credentials_file=_creds(tmp_path, jwt="")).check_credentials()
    cut = tmp_path / "cut.creds"
    cut.write_text("-----BEGIN NATS USER JWT-----\n")  # cut off right after the marker
    with pytest.raises(ValueError, match="holds no user JWT"):
        NatsOptions(credentials_file=str(cut)).check_credentials()
    for bad_seed in ("SUAIBDPBAUTWCWBKIO6XHQNI", "SU#not+base32#AIBDPBAUTWCWBKIO6XHQNINK5FWJW4OHLXC3HQ2KFE4PE"):
        with pytest.raises(ValueError, match="holds no valid user nkey seed") as caught:
            NatsOptions(credentials_file=_creds(tmp_path, seed=bad_seed)).check_credentials()
        assert bad_seed not in str(caught.value)
    with pytest.raises(ValueError, match="holds no valid user nkey seed"):
        NatsOptions(credentials_file=_creds(tmp_path, seed="")).check_credentials()
    account_seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_ACCOUNT).decode()
    with pytest.raises(ValueError, match="not a user's"):
        NatsOptions(credentials_file=_creds(tmp_path, seed=account_seed)).check_credentials()
    binary = tmp_path / "binary.creds"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError):
        NatsOptions(credentials_file=str(binary)).check_credentials()
