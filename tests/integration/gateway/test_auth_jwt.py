"""Bearer JWTs verified against a JWKS file named in the auth file's [jwt] table, over real gRPC."""

from __future__ import annotations

import json
import os
import time

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from taskrouter.gateway.v1 import worker_service_pb2 as w
from taskrouter.gateway.v1 import worker_service_pb2_grpc
from taskrouter_gateway.auth import AuthConfigError, AuthPolicy
from taskrouter_gateway.errors import error_info_from

ISSUER, AUDIENCE = "https://idp.test", "taskrouter-gateway"


class Signer:
    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.key = ec.generate_private_key(ec.SECP256R1())

    def jwk(self) -> dict:
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key()))
        return {**public, "kid": self.kid, "alg": "ES256", "use": "sig"}

    def token(self, **claims) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "billing", "iat": now, "exp": now + 300, **claims}
        return jwt.encode(body, self.key, algorithm="ES256", headers={"kid": self.kid})


@pytest.fixture
def signer() -> Signer:
    return Signer("k1")


@pytest.fixture
def auth_file(tmp_path, signer):
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [signer.jwk()]}))
    path = tmp_path / "callers.toml"
    path.write_text(
        f'[jwt]\njwks_file = "jwks.json"\nissuer = "{ISSUER}"\naudience = "{AUDIENCE}"\n\n'
        f'[[caller]]\nname = "ops"\ncertificate = "ops.internal"\nscopes = ["read"]\n'
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
        ('[jwt]\njwks_file = "missing.json"\nissuer = "i"\naudience = "a"\n', "cannot read JWKS file"),
        ('[jwt]\njwks_file = "bad.json"\nissuer = "i"\naudience = "a"\n', "not a usable key set"),
        ('[jwt]\njwks_file = "bad.json"\nissuer = "i"\n', "audience is required"),
    ],
)
def test_a_broken_jwt_table_is_refused(tmp_path, table, message):
    (tmp_path / "bad.json").write_text('{"keys": "nope"}')
    path = tmp_path / "callers.toml"
    path.write_text(table)
    with pytest.raises(AuthConfigError, match=message):
        AuthPolicy(str(path))
