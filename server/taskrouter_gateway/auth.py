"""Who is calling, and may they: identities from a TOML file of hashed tokens and certificate names.

    [[caller]]
    name = "billing"                        # shown in audit lines; never a secret
    token_sha256 = ["9f86d081884c7d65..."]   # hex SHA-256 of each bearer token (`taskrouter-gateway hash-token`)
    certificate = "billing.internal"         # and/or: client certificate DNS SAN, or CN when it has none
    scopes = ["read", "events"]              # read, write, events
    workspaces = ["WS..."]                   # required: WS SIDs, or ["*"] for every workspace

    [jwt]                                    # optional: bearer JWTs (jwt_auth.py)
    jwks_file = "jwks.json"                  # relative to this file; re-read when it changes
    issuer = "https://idp.internal"
    audience = "taskrouter-gateway"
    workspaces_claim = "workspaces"          # required: the claim listing a token's WS SIDs (or "*")

Tokens arrive as `authorization: Bearer <token>` metadata and are compared by hash, so the file holds no
usable secret. A bearer value shaped like a JWT (three dot-separated parts) is verified against the JWKS
when the file has a [jwt] table. The file is re-read when it changes (and on SIGHUP); a broken edit is logged and the previous
callers stay in force. A grant is never implicit: a caller without `workspaces` is refused at load, so a file
cut short mid-write cannot give a caller more than the complete file does. Nothing here knows gRPC statuses:
errors.py turns AccessDenied into them.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from cryptography import x509
from cryptography.x509.oid import NameOID

from .jwt_auth import ALL_WORKSPACES, EVERY_WORKSPACE, InvalidJwt, JwtConfigError, JwtVerifier, load_jwks
from .scopes import SCOPES

log = structlog.get_logger("taskrouter_gateway.auth")

AUTHORIZATION_KEY = "authorization"
_BEARER = "bearer "
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_WORKSPACE = re.compile(r"^WS[0-9a-fA-F]{32}$")
# grpc auth_context key of the verified client certificate; its names are read from the certificate itself,
# because grpc's x509_subject_alternative_name mixes DNS, URI, email and IP SANs.
_PEM_CERT_KEY = "x509_pem_cert"
# Attempts at a read whose file stamp is the same before and after (a writer in between means read again).
_READ_ATTEMPTS = 5


class AuthConfigError(ValueError):
    """The auth file cannot be read or is malformed; the message names the file and the entry."""


class AccessDenied(Exception):
    """Base: the call is refused before any work is done."""


class Unauthenticated(AccessDenied):
    """No credential, or one the gateway does not know."""


class PermissionDenied(AccessDenied):
    """A known caller without the scope, or outside its workspace allow-list."""

    def __init__(self, message: str, *, identity: str, scope: str, workspace_sid: str | None = None) -> None:
        super().__init__(message)
        self.identity = identity
        self.scope = scope
        self.workspace_sid = workspace_sid  # set when the workspace, not the scope, was the problem


@dataclass(frozen=True, slots=True)
class Identity:
    name: str
    scopes: frozenset[str]
    workspaces: frozenset[str]  # WS SIDs, or ALL_WORKSPACES ({"*"})


ANONYMOUS = Identity("anonymous", frozenset(SCOPES), ALL_WORKSPACES)  # auth off: what audit lines name the caller


def hash_token(token: str) -> str:
    """The form the auth file stores: lower-case hex SHA-256 of the token's UTF-8 bytes."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _strings(entry: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = entry.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise AuthConfigError(f"{where}: {key} must be a string or a list of non-empty strings")
    return value


@dataclass(frozen=True)
class Callers:
    by_token: dict[str, Identity]  # by SHA-256 hex of the token
    by_cert: dict[str, Identity]  # by lower-case certificate name (DNS SAN, or CN without one)
    jwt: JwtVerifier | None = None


def _jwt_table(table: Any, source: str) -> JwtVerifier:
    """[jwt] jwks_file (relative to the auth file), issuer, audience, workspaces_claim: all required."""
    if not isinstance(table, dict):
        raise AuthConfigError(f"{source}: jwt must be a table ([jwt])")
    keys_wanted = ("jwks_file", "issuer", "audience", "workspaces_claim")
    unknown = set(table) - set(keys_wanted)
    if unknown:
        raise AuthConfigError(f"{source}: [jwt]: unknown key(s) {sorted(unknown)}")
    for key in keys_wanted:
        if not isinstance(table.get(key), str) or not table[key]:
            hint = " (the claim that lists a token's WS SIDs, or \"*\")" if key == "workspaces_claim" else ""
            raise AuthConfigError(f"{source}: [jwt]: {key} is required{hint}")
    path = os.path.join(os.path.dirname(os.path.abspath(source)), table["jwks_file"])
    try:
        keys = load_jwks(path)
    except JwtConfigError as exc:
        raise AuthConfigError(f"{source}: [jwt]: {exc}") from None
    return JwtVerifier(
        keys, issuer=table["issuer"], audience=table["audience"], workspaces_claim=table["workspaces_claim"]
    )


def jwks_path(text: str, source: str) -> str | None:
    """The JWKS file a parsed auth file names, so the file watch can follow it too."""
    try:
        table = tomllib.loads(text).get("jwt")
    except tomllib.TOMLDecodeError:
        return None
    if isinstance(table, dict) and isinstance(table.get("jwks_file"), str):
        return os.path.join(os.path.dirname(os.path.abspath(source)), table["jwks_file"])
    return None


def parse_callers(text: str, source: str) -> Callers:
    """The callers an auth file's text defines (and its JWT verifier, when it has a [jwt] table)."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AuthConfigError(f"{source}: not valid TOML: {exc}") from None
    unknown_top = set(document) - {"caller", "jwt"}
    if unknown_top:
        raise AuthConfigError(f"{source}: unknown key(s) {sorted(unknown_top)}; expected [[caller]] tables")
    verifier = _jwt_table(document["jwt"], source) if "jwt" in document else None
    callers = document.get("caller", [])
    if not isinstance(callers, list):
        raise AuthConfigError(f"{source}: caller must be an array of tables ([[caller]])")
    by_token: dict[str, Identity] = {}
    by_cert: dict[str, Identity] = {}
    names: set[str] = set()
    for index, entry in enumerate(callers):
        where = f"{source}: caller #{index + 1}"
        unknown = set(entry) - {"name", "token_sha256", "certificate", "scopes", "workspaces"}
        if unknown:
            raise AuthConfigError(f"{where}: unknown key(s) {sorted(unknown)}")
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise AuthConfigError(f"{where}: name is required")
        where = f"{source}: caller {name!r}"
        if name in names:
            raise AuthConfigError(f"{where}: the name is used twice")
        names.add(name)
        scopes = _strings(entry, "scopes", where)
        bad = set(scopes) - SCOPES
        if bad:
            raise AuthConfigError(f"{where}: unknown scope(s) {sorted(bad)}; use {sorted(SCOPES)}")
        identity = Identity(name, frozenset(scopes), _workspaces(entry, where))
        hashes = _strings(entry, "token_sha256", where)
        certificates = _strings(entry, "certificate", where)
        if not hashes and not certificates:
            raise AuthConfigError(f"{where}: give token_sha256 or certificate (or both)")
        for digest in hashes:
            digest = digest.lower()
            if not _HEX64.match(digest):
                # The message never repeats the value: someone may have pasted a raw token here.
                raise AuthConfigError(f"{where}: token_sha256 entries must be 64 hex digits (a SHA-256, not a token)")
            if digest in by_token:
                raise AuthConfigError(f"{where}: a token hash is listed for two callers")
            by_token[digest] = identity
        for cert_name in certificates:
            cert_name = cert_name.lower()  # DNS names compare without case, as TLS libraries compare them
            if cert_name in by_cert:
                raise AuthConfigError(f"{where}: certificate {cert_name!r} is listed for two callers")
            by_cert[cert_name] = identity
    return Callers(by_token, by_cert, verifier)


def _workspaces(entry: Mapping[str, Any], where: str) -> frozenset[str]:
    """Required, so that a missing line (or a file cut short before it) never means every workspace."""
    if "workspaces" not in entry:
        raise AuthConfigError(f'{where}: workspaces is required: list WS SIDs, or ["*"] for every workspace')
    listed = _strings(entry, "workspaces", where)
    if EVERY_WORKSPACE in listed:
        if len(listed) > 1:
            raise AuthConfigError(f'{where}: workspaces: "*" (every workspace) must stand alone')
        return ALL_WORKSPACES
    wrong = [w for w in listed if not _WORKSPACE.match(w)]
    if wrong:
        raise AuthConfigError(f"{where}: {wrong[0]!r} is not a WS SID")
    return frozenset(listed)


@functools.lru_cache(maxsize=256)
def certificate_names(pem: bytes) -> tuple[str, ...]:
    """The names a client certificate answers to, as TLS libraries match a DNS name (RFC 6125): its DNS
    SANs, or its subject CN only when it has no DNS SAN. URI, email and IP SANs are never DNS names."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        return ()
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = san.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        dns = []
    if dns:
        return tuple(name.lower() for name in dns)
    common = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return tuple(str(attr.value).lower() for attr in common)


def _stamp(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class AuthPolicy:
    """The callers in force. `authenticate` then `authorize` per RPC; `refresh()` re-reads a changed file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._jwks_path: str | None = None
        self._apply(self._read())
        self._stamp = self._stamps()
        self.reloads = 0

    def _stamps(self) -> tuple[Any, ...]:
        return (_stamp(self.path), _stamp(self._jwks_path) if self._jwks_path else None)

    def _read(self) -> Callers:
        try:
            with open(self.path, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise AuthConfigError(f"cannot read auth file {self.path}: {exc.strerror}") from None
        callers = parse_callers(text, self.path)
        self._jwks_path = jwks_path(text, self.path)
        return callers

    def _apply(self, callers: Callers) -> None:
        self._by_token, self._by_cert, self._jwt = callers.by_token, callers.by_cert, callers.jwt

    @property
    def caller_count(self) -> int:
        return len({*self._by_token.values(), *self._by_cert.values()})

    def refresh(self, force: bool = False) -> bool:
        """Re-read the file if it changed (or `force`); True when new callers took effect.

        The stamp is taken before the read and compared after it: a write that lands in between makes the
        read start again, and the stamp kept is the one from before, so a change is never recorded as seen
        without having been read. (Writers should still replace the file by rename: see docs.)"""
        stamp = self._stamps()
        if stamp == self._stamp and not force:
            return False
        for _attempt in range(_READ_ATTEMPTS):
            try:
                callers = self._read()
            except AuthConfigError as exc:
                after = self._stamps()
                if after != stamp:
                    stamp = after  # the file moved under the read: read it again
                    continue
                self._stamp = stamp
                log.warning("auth file reload refused; the previous callers stay in force", error=str(exc))
                return False
            after = self._stamps()
            if after == stamp:
                self._apply(callers)
                self._stamp = stamp
                self.reloads += 1
                log.info("auth file reloaded", path=self.path, callers=self.caller_count)
                return True
            stamp = after
        log.warning("auth file keeps changing while read; the previous callers stay in force", path=self.path)
        return False

    async def watch(self, interval: float = 2.0) -> None:
        """Run as a task: pick up edits without a signal (SIGHUP calls refresh(force=True) at once)."""
        while True:
            await asyncio.sleep(interval)
            self.refresh()

    def _jwt_identity(self, token: str) -> Identity:
        assert self._jwt is not None
        try:
            claims = self._jwt.verify(token)
        except InvalidJwt as exc:
            raise Unauthenticated(str(exc)) from None
        return Identity(claims.name, claims.scopes, claims.workspaces)

    def authenticate(
        self, metadata: Iterable[tuple[str, Any]] | None, auth_context: Callable[[], Mapping[str, Iterable[bytes]]]
    ) -> Identity:
        """The caller of an RPC, from its bearer token, else its verified client certificate. Any failure
        while checking a credential is a refusal (UNAUTHENTICATED, audited and counted), never INTERNAL."""
        try:
            return self._authenticate(metadata, auth_context)
        except AccessDenied:
            raise
        except Exception as exc:
            # Only the type: the exception text may quote the credential.
            log.warning("credential check failed", error_type=type(exc).__name__)
            raise Unauthenticated(f"the credential could not be checked ({type(exc).__name__})") from None

    def _authenticate(
        self, metadata: Iterable[tuple[str, Any]] | None, auth_context: Callable[[], Mapping[str, Iterable[bytes]]]
    ) -> Identity:
        for key, value in metadata or ():
            if key == AUTHORIZATION_KEY:
                if not isinstance(value, str) or value[:7].lower() != _BEARER:
                    raise Unauthenticated("the authorization metadata must be 'Bearer <token>'")
                token = value[7:].strip()
                if self._jwt is not None and token.count(".") == 2:
                    return self._jwt_identity(token)
                identity = self._by_token.get(hash_token(token))
                if identity is None:
                    raise Unauthenticated("the bearer token is not known to this gateway")
                return identity
        if self._by_cert:
            for pem in (auth_context() or {}).get(_PEM_CERT_KEY, ()):
                for cert_name in certificate_names(bytes(pem)):
                    identity = self._by_cert.get(cert_name)
                    if identity is not None:
                        return identity
        raise Unauthenticated(
            "no credential: send 'authorization: Bearer <token>' metadata or a client certificate the gateway knows"
        )


def authorize(identity: Identity, scope: str, workspace_sid: str | None) -> None:
    """Raises PermissionDenied unless `identity` holds `scope` and may use the workspace."""
    if scope not in identity.scopes:
        raise PermissionDenied(
            f"caller {identity.name!r} lacks the {scope!r} scope for this RPC", identity=identity.name, scope=scope
        )
    allowed = identity.workspaces
    if EVERY_WORKSPACE not in allowed and workspace_sid not in allowed:
        text = (
            f"caller {identity.name!r} may not use workspace {workspace_sid}"
            if workspace_sid
            else f"caller {identity.name!r} is limited to listed workspaces; this RPC names none"
        )
        raise PermissionDenied(text, identity=identity.name, scope=scope, workspace_sid=workspace_sid or "")
