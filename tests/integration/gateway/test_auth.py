"""Caller identity and scopes over real gRPC: bearer tokens, client certificates, workspaces, audit lines."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os

import grpc
import pytest
from cryptography import x509
from gateway_certs import TestCA
from taskrouter.gateway.v1 import (
    activity_service_pb2 as a,
)
from taskrouter.gateway.v1 import (
    activity_service_pb2_grpc,
    event_service_pb2_grpc,
    worker_service_pb2_grpc,
)
from taskrouter.gateway.v1 import (
    event_service_pb2 as e,
)
from taskrouter.gateway.v1 import (
    worker_service_pb2 as w,
)
from taskrouter_gateway import logs
from taskrouter_gateway.auth import AuthConfigError, AuthPolicy, hash_token
from taskrouter_gateway.cli import main
from taskrouter_gateway.errors import error_info_from

READER, WRITER, OTHER_WS = "reader-token-1", "writer-token-2", "WS" + "f" * 32


def write_auth_file(path, ws: str, *, extra: str = "") -> None:
    path.write_text(
        f"""
[[caller]]
name = "dashboard"
token_sha256 = "{hash_token(READER)}"
scopes = ["read", "events"]
workspaces = ["*"]

[[caller]]
name = "router"
token_sha256 = ["{hash_token(WRITER)}"]
certificate = "router.internal"
scopes = ["read", "write", "events"]
workspaces = ["{ws}"]
{extra}
"""
    )


async def audit_lines(capsys, count: int) -> tuple[list[dict], str]:
    """The next `count` audit lines and all output read meanwhile. The server logs them in its handler's
    `finally`, which can run just after the client has the status: wait for them."""
    lines: list[dict] = []
    output = ""
    async with asyncio.timeout(10):
        while len(lines) < count:
            err = capsys.readouterr().err
            output += err
            lines += [json.loads(line) for line in err.splitlines() if '"audit"' in line]
            if len(lines) < count:
                await asyncio.sleep(0.005)
    return lines, output


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


@pytest.fixture
def ws(emulator) -> str:
    return emulator.config.default_workspace_sid


@pytest.fixture
def auth_file(tmp_path, ws):
    path = tmp_path / "callers.toml"
    write_auth_file(path, ws)
    return path


@pytest.fixture
async def secured(make_gateway, auth_file):
    return await make_gateway(auth_file=str(auth_file))


@pytest.fixture
async def stubs(secured):
    async with grpc.aio.insecure_channel(secured.grpc_target) as channel:
        yield (
            worker_service_pb2_grpc.WorkerServiceStub(channel),
            activity_service_pb2_grpc.ActivityServiceStub(channel),
            event_service_pb2_grpc.EventServiceStub(channel),
        )


async def refused(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def test_missing_and_wrong_tokens_are_unauthenticated(stubs, ws):
    workers, _, _ = stubs
    request = w.ListWorkersRequest(workspace_sid=ws)
    cases = (
        ((), "no credential"),
        (bearer("not-a-token"), "the bearer token is not known to this gateway"),
        ((("authorization", "Basic abcdefgh"),), "the authorization metadata must be 'Bearer <token>'"),
    )
    for metadata, message in cases:
        err = await refused(workers.ListWorkers(request, metadata=metadata, timeout=5))
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED, metadata
        assert err.details().startswith(message)
        info, _ = error_info_from(err)
        assert info.reason == "CALLER_UNAUTHENTICATED"
    assert (await workers.ListWorkers(request, metadata=bearer(READER), timeout=5)) is not None


async def test_health_and_reflection_stay_open(secured):
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    async with grpc.aio.insecure_channel(secured.grpc_target) as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        stream = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
        )
        async for reply in stream:
            names = {s.name for s in reply.list_services_response.service}
            assert "taskrouter.gateway.v1.WorkerService" in names


async def test_a_read_only_caller_cannot_write(stubs, ws):
    workers, activities, _ = stubs
    err = await refused(
        workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="X"), metadata=bearer(READER))
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    info, _ = error_info_from(err)
    assert (info.reason, info.metadata["scope"], info.metadata["caller"]) == ("CALLER_MISSING_SCOPE", "write", "dashboard")
    assert err.details() == "caller 'dashboard' lacks the 'write' scope for this RPC"
    listed = await activities.ListActivities(a.ListActivitiesRequest(workspace_sid=ws), metadata=bearer(READER))
    assert listed.activities


async def test_a_workspace_outside_the_allow_list_is_refused(stubs, ws):
    workers, _, _ = stubs
    err = await refused(workers.ListWorkers(w.ListWorkersRequest(workspace_sid=OTHER_WS), metadata=bearer(WRITER)))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    info, _ = error_info_from(err)
    assert (info.reason, info.metadata["workspace_sid"]) == ("CALLER_WORKSPACE_NOT_ALLOWED", OTHER_WS)
    made = await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="In"), metadata=bearer(WRITER))
    assert made.sid.startswith("WK")


async def test_streams_need_the_events_scope_and_the_workspace(stubs, ws):
    _, _, events = stubs
    call = events.StreamEvents(e.StreamEventsRequest(workspace_sid=ws))
    err = await refused(call.read())
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    call = events.StreamEvents(e.StreamEventsRequest(workspace_sid=OTHER_WS), metadata=bearer(WRITER))
    err = await refused(call.read())
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error_info_from(err)[0].metadata["scope"] == "events"


async def test_write_rpcs_log_one_audit_line_with_the_caller(stubs, ws, capsys):
    workers, _, _ = stubs
    logs.configure(log_format="json", level="info")
    capsys.readouterr()
    made = await workers.CreateWorker(
        w.CreateWorkerRequest(workspace_sid=ws, friendly_name="Alice Secret", attributes='{"ssn": "078-05-1120"}'),
        metadata=bearer(WRITER) + (("x-request-id", "audit-1"),),
    )
    await refused(workers.DeleteWorker(w.DeleteWorkerRequest(workspace_sid=ws, sid=made.sid), metadata=bearer(READER)))
    await workers.GetWorker(w.GetWorkerRequest(workspace_sid=ws, sid=made.sid), metadata=bearer(READER))
    audits, err = await audit_lines(capsys, 2)
    assert [(x["caller"], x["code"], x["resource_sid"]) for x in audits] == [
        ("router", "OK", made.sid),
        ("dashboard", "PERMISSION_DENIED", made.sid),
    ]
    first = audits[0]
    assert (first["workspace_sid"], first["request_id"]) == (ws, "audit-1")
    assert first["rpc_method"] == "/taskrouter.gateway.v1.WorkerService/CreateWorker"
    # No PII, no token, no token hash anywhere in the output.
    # The secret has hyphens so no random hex sid can contain it by chance.
    for secret in ("Alice Secret", "078-05-1120", WRITER, READER, hash_token(WRITER), hash_token(READER)):
        assert secret not in err


async def test_without_an_auth_file_every_caller_is_served_and_audited_as_anonymous(channel, ws, capsys):
    workers = worker_service_pb2_grpc.WorkerServiceStub(channel)
    logs.configure(log_format="json", level="info")
    capsys.readouterr()
    made = await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="Open"))
    (line,), _ = await audit_lines(capsys, 1)
    assert (line["caller"], line["resource_sid"], line["code"]) == ("anonymous", made.sid, "OK")


async def test_a_client_certificate_names_the_caller(make_gateway, auth_file, tmp_path, ws):
    ca = TestCA()
    (tmp_path / "ca.crt").write_bytes(ca.cert_pem)
    cert, key = ca.issue("gateway", server=True).write(tmp_path, "server")
    gateway = await make_gateway(
        auth_file=str(auth_file), tls_cert=str(cert), tls_key=str(key), tls_client_ca=str(tmp_path / "ca.crt")
    )

    def channel_for(common_name: str, dns: tuple[str, ...] = ()) -> grpc.aio.Channel:
        client = ca.issue(common_name, dns=dns)
        creds = grpc.ssl_channel_credentials(ca.cert_pem, client.key_pem, client.cert_pem)
        return grpc.aio.secure_channel(gateway.grpc_target, creds)

    async with channel_for("router.internal") as router:
        made = await worker_service_pb2_grpc.WorkerServiceStub(router).CreateWorker(
            w.CreateWorkerRequest(workspace_sid=ws, friendly_name="ByCert"), timeout=5
        )
        assert made.sid.startswith("WK")
    async with channel_for("svc-42", dns=("router.internal",)) as by_san:
        got = await worker_service_pb2_grpc.WorkerServiceStub(by_san).GetWorker(
            w.GetWorkerRequest(workspace_sid=ws, sid=made.sid), timeout=5
        )
        assert got.sid == made.sid
    async with channel_for("stranger") as stranger:
        err = await refused(
            worker_service_pb2_grpc.WorkerServiceStub(stranger).GetWorker(
                w.GetWorkerRequest(workspace_sid=ws, sid=made.sid), timeout=5
            )
        )
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("common_name", "dns", "others", "expected"),
    [
        # The CN counts only when the certificate has no DNS SAN (RFC 6125, as TLS libraries match names).
        ("router.internal", ("svc-42.internal",), (), grpc.StatusCode.UNAUTHENTICATED),
        ("Router.Internal", (), (), grpc.StatusCode.OK),  # DNS names compare without case
        ("svc-42", ("ROUTER.internal",), (), grpc.StatusCode.OK),
        ("router.internal", (), (x509.UniformResourceIdentifier("spiffe://cluster/router"),), grpc.StatusCode.OK),
        # URI, email and IP SANs are never DNS names, whatever their text.
        ("stranger", (), (x509.UniformResourceIdentifier("router.internal"),), grpc.StatusCode.UNAUTHENTICATED),
        ("stranger", (), (x509.RFC822Name("router.internal"),), grpc.StatusCode.UNAUTHENTICATED),
        ("stranger", (), (x509.IPAddress(ipaddress.ip_address("10.9.8.7")),), grpc.StatusCode.UNAUTHENTICATED),
    ],
)
async def test_certificate_names_match_as_tls_libraries_match_them(
    make_gateway, tmp_path, ws, common_name, dns, others, expected
):
    path = tmp_path / "callers.toml"
    write_auth_file(path, ws, extra='[[caller]]\nname = "by-ip"\ncertificate = "10.9.8.7"\nscopes = ["read"]\n'
                                    'workspaces = ["*"]\n')
    ca = TestCA()
    (tmp_path / "ca.crt").write_bytes(ca.cert_pem)
    cert, key = ca.issue("gateway", server=True).write(tmp_path, "server")
    gateway = await make_gateway(
        auth_file=str(path), tls_cert=str(cert), tls_key=str(key), tls_client_ca=str(tmp_path / "ca.crt")
    )
    client = ca.issue(common_name, dns=dns, other_names=others)
    creds = grpc.ssl_channel_credentials(ca.cert_pem, client.key_pem, client.cert_pem)
    async with grpc.aio.secure_channel(gateway.grpc_target, creds) as channel:
        call = worker_service_pb2_grpc.WorkerServiceStub(channel).ListWorkers(
            w.ListWorkersRequest(workspace_sid=ws), timeout=5
        )
        try:
            await call
            code = grpc.StatusCode.OK
        except grpc.aio.AioRpcError as err:
            code = err.code()
    assert code == expected


async def test_the_auth_file_is_reloaded_when_it_changes(secured, stubs, auth_file, ws):
    workers, _, _ = stubs
    newcomer = "newcomer-token-3"
    err = await refused(workers.ListWorkers(w.ListWorkersRequest(workspace_sid=ws), metadata=bearer(newcomer)))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    write_auth_file(
        auth_file, ws,
        extra=f'[[caller]]\nname = "newcomer"\ntoken_sha256 = "{hash_token(newcomer)}"\nscopes = ["read"]\n'
        'workspaces = ["*"]\n',
    )
    os.utime(auth_file, ns=(1, 1))  # a different mtime even on coarse clocks
    assert secured.auth is not None
    secured.reload()  # what SIGHUP does; the file watch would pick it up within seconds too
    assert await workers.ListWorkers(w.ListWorkersRequest(workspace_sid=ws), metadata=bearer(newcomer)) is not None
    # A broken edit keeps the callers in force.
    auth_file.write_text("[[caller]]\nname = 'x'\nscopes = ['root']\n")
    secured.reload()
    assert await workers.ListWorkers(w.ListWorkersRequest(workspace_sid=ws), metadata=bearer(newcomer)) is not None


async def test_the_file_watch_notices_a_change(secured, stubs, auth_file, ws):
    assert secured.auth is not None
    before = secured.auth.reloads
    write_auth_file(
        auth_file, ws,
        extra='[[caller]]\nname = "late"\ntoken_sha256 = "' + "0" * 64 + '"\nscopes = []\nworkspaces = ["*"]\n',
    )
    os.utime(auth_file, ns=(2, 2))
    while secured.auth.reloads == before:
        await asyncio.sleep(0.05)
    assert secured.auth.caller_count == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[caller]]\nscopes = ['read']\ntoken_sha256 = '" + "a" * 64 + "'\n", "name is required"),
        ("[[caller]]\nname = 'x'\nscopes = ['admin']\ntoken_sha256 = '" + "a" * 64 + "'\n", "unknown scope"),
        ("[[caller]]\nname = 'x'\nscopes = ['read']\nworkspaces = ['*']\ntoken_sha256 = 'plain-token'\n", "64 hex digits"),
        ("[[caller]]\nname = 'x'\nscopes = ['read']\nworkspaces = ['*']\n", "token_sha256 or certificate"),
        ("[[caller]]\nname = 'x'\nscopes = ['read']\ncertificate = 'a'\nworkspaces = ['nope']\n", "not a WS SID"),
        ("callers = 1\n", "unknown key"),
        ("[[caller]\n", "not valid TOML"),
    ],
)
def test_a_malformed_auth_file_is_refused_with_the_reason(tmp_path, text, message):
    path = tmp_path / "callers.toml"
    path.write_text(text)
    with pytest.raises(AuthConfigError, match=message) as caught:
        AuthPolicy(str(path))
    assert "plain-token" not in str(caught.value)


def test_hash_token_reads_standard_input(monkeypatch, capsys):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret\n"))
    assert main(["hash-token"]) == 0
    assert capsys.readouterr().out.strip() == hash_token("s3cret")
    assert main(["hash-token", "--generate"]) == 0
    token_line, hash_line = capsys.readouterr().out.splitlines()
    assert hash_token(token_line.split()[-1]) == hash_line.split()[-1]
    with pytest.raises(SystemExit):
        main(["hash-token", "--help"])
    assert 'workspaces (WS SIDs, or ["*"] for every workspace' in " ".join(capsys.readouterr().out.split())
