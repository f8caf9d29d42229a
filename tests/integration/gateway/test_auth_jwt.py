"""Bearer JWTs verified against a JWKS file named in the auth file's [jwt] table, over real gRPC."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from taskrouter.gateway.v1 import worker_service_pb2 as w
from taskrouter.gateway.v1 import worker_service_pb2_grpc
from taskrouter_gateway import jwt_auth, logs
from taskrouter_gateway.auth import AuthConfigError, AuthPolicy, Unauthenticated
from taskrouter_gateway.errors import error_info_from
from taskrouter_gateway.jwt_auth import ALL_WORKSPACES, InvalidJwt, JwtVerifier

ISSUER, AUDIENCE = "https://idp.test", "taskrouter-gateway"


class Signer:
    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.key = ec.generate_private_key(ec.SECP256R1())

    def jwk(self) -> dict:
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key()))
        return {**public, "kid": self.kid, "alg": "ES256", "use": "sig"}

    def token(self, headers: dict | None = None, **claims) -> str:
        now = int(time.time())
        body = {
            "iss": ISSUER, "aud": AUDIENCE, "sub": "billing", "iat": now, "exp": now + 300, "workspaces": ["*"],
            **claims,
        }
        body = {key: value for key, value in body.items() if value is not None}  # None: leave the claim out
        header = {"kid": self.kid} if headers is None else headers
        return jwt.encode(body, self.key, algorithm="ES256", headers=header)

    def with_header(self, header: dict) -> str:
        """A token whose header holds what PyJWT will not write itself (a non-string kid, a bad crit)."""
        signing_input = ".".join(_b64(part) for part in (header, {"sub": "x", "workspaces": "*"}))
        return signing_input + ".AAAA"


def _b64(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


@pytest.fixture
def signer() -> Signer:
    return Signer("k1")


@pytest.fixture
def auth_file(tmp_path, signer):
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [signer.jwk()]}))
    path = tmp_path / "callers.toml"
    path.write_text(
        f'[jwt]\njwks_file = "jwks.json"\nissuer = "{ISSUER}"\naudience = "{AUDIENCE}"\n'
        'workspaces_claim = "workspaces"\n\n'
        '[[caller]]\nname = "ops"\ncertificate = "ops.internal"\nscopes = ["read"]\nworkspaces = ["*"]\n'
    )
    return path


@pytest.fixture
async def workers(make_gateway, auth_file):
    gateway = await make_gateway(auth_file=str(auth_file))
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        yield worker_service_pb2_grpc.WorkerServiceStub(channel)


def bearer(token: str):
    return (("authorization", f"Bearer {token}"),)


async def code_of(call) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as err:
        return err.code()
    return grpc.StatusCode.OK


async def test_scopes_and_workspaces_come_from_the_token(workers, signer, emulator):
    ws = emulator.config.default_workspace_sid
    reader = signer.token(scope="read events")
    assert await code_of(workers.ListWorkers(w.ListWorkersRequest(workspace_sid=ws), metadata=bearer(reader))) == \
        grpc.StatusCode.OK
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="J"), metadata=bearer(reader))
    info, _ = error_info_from(caught.value)
    assert (info.reason, info.metadata["scope"], info.metadata["caller"]) == ("CALLER_MISSING_SCOPE", "write", "jwt:billing")
    boxed = signer.token(scp=["read"], workspaces=["WS" + "f" * 32])
    assert await code_of(workers.ListWorkers(w.ListWorkersRequest(workspace_sid=ws), metadata=bearer(boxed))) == \
        grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize(
    "make",
    [
        lambda s: s.token(scope="read", exp=int(time.time()) - 3600),  # expired
        lambda s: s.token(scope="read", aud="someone-else"),
        lambda s: s.token(scope="read", iss="https://elsewhere"),
        lambda s: Signer("k1").token(scope="read"),  # same kid, another key
        lambda s: Signer("k9").token(scope="read"),  # unknown kid
        lambda s: s.token(scope="read")[:-4] + "AAAA",  # tampered signature
        lambda s: "not.a.jwt",
    ],
)
async def test_tokens_that_do_not_verify_are_unauthenticated(workers, signer, emulator, make):
    ws = emulator.config.default_workspace_sid
    code = await code_of(workers.ListWorkers(w.ListWorkersRequest(workspace_sid=ws), metadata=bearer(make(signer))))
    assert code == grpc.StatusCode.UNAUTHENTICATED


async def test_the_refusal_says_why_the_token_did_not_verify(workers, signer, emulator):
    request = w.ListWorkersRequest(workspace_sid=emulator.config.default_workspace_sid)
    expired = signer.token(scope="read", exp=int(time.time()) - 3600)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await workers.ListWorkers(request, metadata=bearer(expired))
    assert (caught.value.code(), caught.value.details()) == (grpc.StatusCode.UNAUTHENTICATED, "the JWT has expired")


async def test_a_rotated_jwks_is_picked_up(make_gateway, auth_file, signer, tmp_path, emulator):
    gateway = await make_gateway(auth_file=str(auth_file))
    newer = Signer("k2")
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [signer.jwk(), newer.jwk()]}))
    os.utime(tmp_path / "jwks.json", ns=(3, 3))
    assert gateway.auth is not None and gateway.auth.refresh()  # what the 2 s file watch does
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        stub = worker_service_pb2_grpc.WorkerServiceStub(channel)
        request = w.ListWorkersRequest(workspace_sid=emulator.config.default_workspace_sid)
        assert await code_of(stub.ListWorkers(request, metadata=bearer(newer.token(scope="read")))) == \
            grpc.StatusCode.OK


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('[jwt]\nissuer = "i"\naudience = "a"\n', "jwks_file is required"),
        ('[jwt]\njwks_file = "missing.json"\nissuer = "i"\naudience = "a"\nworkspaces_claim = "w"\n',
         "cannot read JWKS file"),
        ('[jwt]\njwks_file = "bad.json"\nissuer = "i"\naudience = "a"\nworkspaces_claim = "w"\n', "not a usable key set"),
        ('[jwt]\njwks_file = "bad.json"\nissuer = "i"\n', "audience is required"),
        ('[jwt]\njwks_file = "bad.json"\nissuer = "i"\naudience = "a"\n',
         r"workspaces_claim is required \(the claim that lists a token's WS SIDs, or \"\*\"\)"),
        ('[jwt]\njwks_file = "j"\nissuer = "i"\naudience = "a"\nworkspaces_claim = "w"\nleeway = 5\n',
         r"unknown key\(s\) \['leeway'\]"),
    ],
)
def test_a_broken_jwt_table_is_refused(tmp_path, table, message):
    (tmp_path / "bad.json").write_text('{"keys": "nope"}')
    path = tmp_path / "callers.toml"
    path.write_text(table)
    with pytest.raises(AuthConfigError, match=message):
        AuthPolicy(str(path))


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "ES256", "kid": 123},
        {"alg": "ES256", "kid": ["k1"]},
        {"alg": "ES256", "kid": "k1", "crit": ["x-unknown"]},
        {"alg": "ES256", "kid": "k1", "crit": "x-unknown"},
    ],
)
async def test_a_malformed_header_is_unauthenticated_audited_and_counted(
    make_gateway, auth_file, signer, emulator, capsys, header
):
    gateway = await make_gateway(auth_file=str(auth_file), admin_port=0)
    ws = emulator.config.default_workspace_sid
    logs.configure(log_format="json", level="info")
    capsys.readouterr()
    method = "/taskrouter.gateway.v1.WorkerService/CreateWorker"
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        stub = worker_service_pb2_grpc.WorkerServiceStub(channel)
        request = w.CreateWorkerRequest(workspace_sid=ws, friendly_name="H")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateWorker(request, metadata=bearer(signer.with_header(header)), timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error_info_from(caught.value)[0].reason == "CALLER_UNAUTHENTICATED"
    output = ""
    async with asyncio.timeout(10):  # the audit line is written in the handler's finally
        while '"audit"' not in output:
            output += capsys.readouterr().err
            await asyncio.sleep(0.005)
    (audit,) = [json.loads(line) for line in output.splitlines() if '"audit"' in line]
    assert (audit["code"], audit["denied"], audit["rpc_method"]) == ("UNAUTHENTICATED", True, method)
    assert "Traceback" not in output and "unexpected error" not in output
    assert gateway.metrics is not None
    counted = gateway.metrics.registry.get_sample_value(
        "taskrouter_gateway_rpcs_total", {"method": method, "code": "UNAUTHENTICATED"}
    )
    assert counted == 1


def verifier_for(*signers: Signer, claim: str = "workspaces") -> JwtVerifier:
    keys = jwt.PyJWKSet.from_dict({"keys": [s.jwk() for s in signers]})
    return JwtVerifier(keys, issuer=ISSUER, audience=AUDIENCE, workspaces_claim=claim)


@pytest.mark.parametrize("header", [{"alg": "ES256", "kid": 123}, {"alg": "ES256", "kid": "k1", "crit": "x"}])
def test_the_verifier_itself_names_a_malformed_header(signer, header):
    with pytest.raises(InvalidJwt, match="not a well-formed JWT"):
        verifier_for(signer).verify(signer.with_header(header))


def test_hashed_tokens_still_work_beside_jwts(auth_file, tmp_path):
    from taskrouter_gateway.auth import hash_token

    plain, dotted = "plain-token", "has.two.dots"  # a JWT is tried only for three dot-separated parts
    with auth_file.open("a") as handle:
        for name, token in (("plain", plain), ("dotted", dotted)):
            handle.write(f'[[caller]]\nname = "{name}"\ntoken_sha256 = "{hash_token(token)}"\nscopes = ["read"]\n'
                         'workspaces = ["*"]\n')
    policy = AuthPolicy(str(auth_file))
    assert policy.authenticate(bearer(plain), dict).name == "plain"
    with pytest.raises(Unauthenticated, match="not a well-formed JWT"):
        policy.authenticate(bearer(dotted), dict)  # with [jwt], three parts means a JWT
    without_jwt = tmp_path / "plain.toml"
    without_jwt.write_text("[[caller]]" + auth_file.read_text().split("[[caller]]", 1)[1])  # the callers, no [jwt]
    assert AuthPolicy(str(without_jwt)).authenticate(bearer(dotted), dict).name == "dotted"


def test_a_token_without_kid_uses_the_only_key_and_only_when_there_is_one(signer):
    token = signer.token(headers={}, scope="read")
    assert "kid" not in jwt.get_unverified_header(token)
    assert verifier_for(signer).verify(token).name == "jwt:billing"
    with pytest.raises(InvalidJwt, match="names no key"):
        verifier_for(signer, Signer("k2")).verify(token)
    other = Signer("k1")  # the only key, but not the one that signed
    with pytest.raises(InvalidJwt, match="does not verify"):
        verifier_for(other).verify(token)


WS_A, WS_B = "WS" + "a" * 32, "WS" + "b" * 32


@pytest.mark.parametrize(
    ("claims", "scopes", "workspaces"),
    [
        ({"scope": "read events admin"}, {"read", "events"}, ALL_WORKSPACES),
        ({"scp": ["read", "write", "root"]}, {"read", "write"}, ALL_WORKSPACES),
        ({"scp": "write events"}, {"write", "events"}, ALL_WORKSPACES),
        ({"scope": "read", "scp": ["write"]}, {"read"}, ALL_WORKSPACES),  # the standard claim wins
        ({"scope": 7}, set(), ALL_WORKSPACES),
        ({"scope": "read", "workspaces": "*"}, {"read"}, ALL_WORKSPACES),
        ({"scope": "read", "workspaces": f"{WS_A} {WS_B}"}, {"read"}, {WS_A, WS_B}),
        ({"scope": "read", "workspaces": [WS_A]}, {"read"}, {WS_A}),
    ],
)
def test_scopes_and_workspaces_from_claims(signer, claims, scopes, workspaces):
    verified = verifier_for(signer).verify(signer.token(**claims))
    assert (verified.scopes, verified.workspaces) == (scopes, workspaces)


@pytest.mark.parametrize(
    ("claim", "message"),
    [
        (None, "has no 'workspaces' claim"),
        ([], "must list WS SIDs"),
        ("", "must list WS SIDs"),
        (["*", WS_A], "must stand alone"),
        (["WSnope"], "must list WS SIDs"),
        ([WS_A, 7], "must list WS SIDs"),
        ({"ws": WS_A}, "must list WS SIDs"),
    ],
)
def test_a_token_must_name_its_workspaces(signer, claim, message):
    token = signer.token(scope="read", workspaces=claim)
    with pytest.raises(InvalidJwt, match=message):
        verifier_for(signer).verify(token)


def test_the_operator_names_the_workspaces_claim(signer):
    verifier = verifier_for(signer, claim="https://idp.test/ws")
    token = signer.token(scope="read", **{"https://idp.test/ws": [WS_B]})
    assert verifier.verify(token).workspaces == {WS_B}
    with pytest.raises(InvalidJwt, match="has no 'https://idp.test/ws' claim"):
        verifier.verify(signer.token(scope="read"))  # a "workspaces" claim is not the one named


@pytest.mark.parametrize("missing", ["exp", "iss", "aud", "sub"])
def test_a_token_without_a_required_claim_does_not_verify(signer, missing):
    token = signer.token(scope="read", **{missing: None})
    with pytest.raises(InvalidJwt, match="does not verify: MissingRequiredClaimError"):
        verifier_for(signer).verify(token)


def test_an_expired_token_says_so(signer):
    with pytest.raises(InvalidJwt, match="the JWT has expired"):
        verifier_for(signer).verify(signer.token(scope="read", exp=int(time.time()) - 3600))


def test_a_verified_token_is_remembered_and_the_memory_is_bounded(signer, monkeypatch):
    decoded: list[str] = []
    real_decode = jwt_auth.jwt.decode

    def counting_decode(token, *args, **kwargs):
        decoded.append(token)
        return real_decode(token, *args, **kwargs)

    monkeypatch.setattr(jwt_auth.jwt, "decode", counting_decode)
    monkeypatch.setattr(jwt_auth, "_CACHE_LIMIT", 8)
    verifier = verifier_for(signer)
    first = signer.token(scope="read")
    for _ in range(3):
        assert verifier.verify(first).scopes == {"read"}
    assert decoded == [first]  # verified once, then remembered
    second = signer.token(scope="write")
    for token in (second, first, second):
        verifier.verify(token)
    assert decoded == [first, second]  # remembering one does not forget the other
    # Within the 30 s leeway an expired token still verifies, and is remembered for the rest of the leeway.
    lately = signer.token(scope="read", exp=int(time.time()) - 10)
    verifier.verify(lately)
    verifier.verify(lately)
    assert decoded.count(lately) == 1
    decoded.clear()
    others = [signer.token(scope="read", jti=str(n)) for n in range(8)]
    for token in others:
        verifier.verify(token)
    verifier.verify(first)
    assert decoded.count(first) == 1  # forgotten once the memory was full: it does not grow without bound
