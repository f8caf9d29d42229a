"""TLS for the gRPC port: certificate, key and optional client CA (mTLS), re-read when the files change.

grpc's dynamic server credentials ask a fetcher for the configuration on every new handshake; ours answers
"unchanged" (None) after one os.stat per file unless a file's mtime/size moved or SIGHUP asked for a reload.
Open connections and their streams keep the session they negotiated: rotation only affects new handshakes.
A half-written or mismatched pair is refused (logged) and the previous certificate stays in use.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
import threading
from dataclasses import dataclass

import grpc
import structlog

from .settings_base import ConfigError

log = structlog.get_logger("taskrouter_gateway.tls")


class TlsConfigError(ValueError):
    """The certificate files cannot be read, or the certificate does not match its key."""


@dataclass(frozen=True)
class TlsSettings:
    """TLS on the gRPC port when cert and key are set; a client CA makes it mutual TLS."""

    cert: str | None = None
    key: str | None = None
    client_ca: str | None = None

    def validate(self) -> None:
        if bool(self.cert) != bool(self.key):
            raise ConfigError("set both tls_cert and tls_key (TLS), or neither")
        if self.client_ca and not self.cert:
            raise ConfigError("tls_client_ca (mutual TLS) needs tls_cert and tls_key too")


@dataclass(frozen=True)
class TlsFiles:
    cert: str
    key: str
    client_ca: str | None = None  # set: clients must present a certificate signed by it (mTLS)

    def paths(self) -> tuple[str, ...]:
        return (self.cert, self.key) + ((self.client_ca,) if self.client_ca else ())


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise TlsConfigError(f"cannot read {path}: {exc.strerror}") from None


def check_pair(files: TlsFiles) -> None:
    """ssl.load_cert_chain fails on a key that does not belong to the certificate (or on a torn file)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(files.cert, files.key)
        if files.client_ca:
            context.load_verify_locations(files.client_ca)
    except (ssl.SSLError, OSError) as exc:
        # The message names the files, never their content.
        raise TlsConfigError(f"TLS files {', '.join(files.paths())} are not a usable set: {exc}") from None


def _stamp(files: TlsFiles) -> tuple[tuple[int, int, int], ...]:
    stamps = []
    for path in files.paths():
        try:
            st = os.stat(path)
        except OSError:
            stamps.append((0, 0, 0))
        else:
            stamps.append((st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(stamps)


class ReloadingServerCredentials:
    """grpc server credentials whose certificate follows the files. `reload()` forces a re-read (SIGHUP)."""

    def __init__(self, files: TlsFiles) -> None:
        self.files = files
        self._lock = threading.Lock()
        self._stamp = _stamp(files)
        self._force = False
        self.reloads = 0  # successful re-reads after the first load
        initial = self._load()
        self.credentials = grpc.dynamic_ssl_server_credentials(
            initial,
            self._fetch,
            require_client_authentication=files.client_ca is not None,
        )

    def _load(self) -> grpc.ServerCertificateConfiguration:
        check_pair(self.files)
        key, cert = _read(self.files.key), _read(self.files.cert)
        root = _read(self.files.client_ca) if self.files.client_ca else None
        return grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=root)

    @classmethod
    def from_settings(cls, settings: TlsSettings) -> ReloadingServerCredentials | None:
        """None when TLS is off."""
        if not (settings.cert and settings.key):
            return None
        return cls(TlsFiles(settings.cert, settings.key, settings.client_ca))

    def reload(self) -> None:
        """Re-read the files at the next handshake even if they look unchanged."""
        self._force = True

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        # Called by grpc's core threads on each handshake: keep it to a few stats when nothing changed.
        stamp = _stamp(self.files)
        if stamp == self._stamp and not self._force:
            return None
        with self._lock:
            self._force = False
            self._stamp = stamp
            try:
                config = self._load()
            except TlsConfigError as exc:
                log.warning("tls reload refused; keeping the previous certificate", error=str(exc))
                return None
            self.reloads += 1
        log.info("tls certificate reloaded", cert=self.files.cert)
        return config


def add_port(server: grpc.aio.Server, host: str, address: str, tls: ReloadingServerCredentials | None) -> int:
    """Binds `address` with TLS, or in plaintext with a warning unless `host` is loopback. 0: not bound."""
    if tls is not None:
        return server.add_secure_port(address, tls.credentials)
    if not is_loopback(host):
        log.warning(
            "gRPC is listening in plaintext on a non-loopback address: anyone who can reach it can call "
            "every RPC unencrypted; set --tls-cert and --tls-key",
            grpc=address,
        )
    return server.add_insecure_port(address)


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
