"""The Connect port with the gRPC port's certificates: TLS (HTTP/1.1, also for a client that offers HTTP/2),
plaintext refused, mutual TLS requiring a client certificate, and SIGHUP's reload."""

from __future__ import annotations

import asyncio
import json
import ssl

from cryptography import x509
from gateway_certs import TestCA, serial_of

LIST = "/taskrouter.gateway.v1.ActivityService/ListActivities"


from test_tls import pki  # noqa: E402,F401 - the gRPC TLS tests' CA and server certificate, shared


async def curl(*args: str) -> tuple[int, str, str]:
    """(exit code, body, '<http code> <http version>')"""
    process = await asyncio.create_subprocess_exec(
        "curl", "-sS", "-w", "\n%{http_code} %{http_version}", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    body, _, status = out.decode().rpartition("\n")
    return process.returncode or 0, body, status or err.decode()


def list_args(url: str, ws: str) -> list[str]:
    return ["-H", "content-type: application/json", "-d", json.dumps({"workspaceSid": ws}), f"{url}{LIST}"]


async def test_tls_serves_http1_to_any_client_and_refuses_plaintext(make_gateway, pki, emulator):
    _, tmp, cert, key = pki
    ws = emulator.config.default_workspace_sid
    gateway = await make_gateway(tls_cert=str(cert), tls_key=str(key), http_port=0)
    assert gateway.http_url.startswith("https://")
    # A client that offers HTTP/2 by ALPN gets HTTP/1.1: uvicorn serves that only (docs/connect.md).
    code, body, status = await curl("--cacert", str(tmp / "ca.crt"), "--http2", *list_args(gateway.http_url, ws))
    assert (code, status) == (0, "200 1.1")
    assert len(json.loads(body)["activities"]) == 3
    code, body, status = await curl("--cacert", str(tmp / "ca.crt"), "--http1.1", *list_args(gateway.http_url, ws))
    assert (code, status) == (0, "200 1.1")
    code, _, _ = await curl(*list_args(gateway.http_url.replace("https://", "http://"), ws))
    assert code != 0  # plaintext to the TLS port gets no answer
    code, _, _ = await curl(*list_args(gateway.http_url, ws))  # a server certificate nobody vouched for
    assert code == 60


async def test_http2_prior_knowledge_is_refused_and_the_port_keeps_serving(connect_gateway, emulator):
    ws = emulator.config.default_workspace_sid
    code, _, _ = await curl("--http2-prior-knowledge", *list_args(connect_gateway.http_url, ws))
    assert code != 0
    code, body, status = await curl(*list_args(connect_gateway.http_url, ws))
    assert (code, status) == (0, "200 1.1") and json.loads(body)["activities"]


async def test_mutual_tls_requires_a_client_certificate_from_the_ca(make_gateway, pki, emulator):
    ca, tmp, cert, key = pki
    ws = emulator.config.default_workspace_sid
    gateway = await make_gateway(tls_cert=str(cert), tls_key=str(key), tls_client_ca=str(tmp / "ca.crt"), http_port=0)
    code, _, _ = await curl("--cacert", str(tmp / "ca.crt"), *list_args(gateway.http_url, ws))
    assert code != 0  # no client certificate: the handshake fails
    stranger_cert, stranger_key = TestCA("someone else").issue("billing").write(tmp, "stranger")
    code, _, _ = await curl("--cacert", str(tmp / "ca.crt"), "--cert", str(stranger_cert), "--key", str(stranger_key),
                            *list_args(gateway.http_url, ws))
    assert code != 0
    client_cert, client_key = ca.issue("router.internal").write(tmp, "client")
    code, body, status = await curl("--cacert", str(tmp / "ca.crt"), "--cert", str(client_cert), "--key",
                                    str(client_key), *list_args(gateway.http_url, ws))
    assert (code, status.split()[0]) == (0, "200")
    assert json.loads(body)["activities"]


async def test_sighup_reload_serves_the_new_certificate_to_new_connections(make_gateway, pki):
    ca, tmp, cert, key = pki
    gateway = await make_gateway(tls_cert=str(cert), tls_key=str(key), http_port=0)

    async def served_serial() -> int:
        context = ssl.create_default_context(cafile=str(tmp / "ca.crt"))
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.http_port, ssl=context)
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        writer.close()
        await writer.wait_closed()
        return x509.load_der_x509_certificate(der).serial_number

    before = await served_serial()
    assert before == serial_of(cert.read_bytes())
    ca.issue("gateway", server=True).write(tmp, "server")  # rotated in place, same paths
    gateway.reload()
    after = await served_serial()
    assert after == serial_of(cert.read_bytes()) and after != before
    # A torn pair is refused and the previous certificate kept.
    key.write_text("not a key")
    gateway.reload()
    assert await served_serial() == after


async def test_a_client_certificate_names_the_caller_as_on_the_grpc_port(make_gateway, pki, emulator):
    from test_auth import write_auth_file

    ca, tmp, cert, key = pki
    ws = emulator.config.default_workspace_sid
    write_auth_file(tmp / "callers.toml", ws)  # "router" is known by its certificate name router.internal
    gateway = await make_gateway(tls_cert=str(cert), tls_key=str(key), tls_client_ca=str(tmp / "ca.crt"),
                                 auth_file=str(tmp / "callers.toml"), http_port=0)
    create = "/taskrouter.gateway.v1.WorkerService/CreateWorker"

    async def create_as(stem: str, name: str) -> tuple[int, dict]:
        client_cert, client_key = ca.issue(name).write(tmp, stem)
        code, body, status = await curl(
            "--cacert", str(tmp / "ca.crt"), "--cert", str(client_cert), "--key", str(client_key),
            "-H", "content-type: application/json", "-d", json.dumps({"workspaceSid": ws, "friendlyName": "by-cert"}),
            f"{gateway.http_url}{create}")
        assert code == 0
        return int(status.split()[0]), json.loads(body)

    status, made = await create_as("router", "router.internal")
    assert status == 200 and made["sid"].startswith("WK")  # the router's write scope, from its certificate
    status, error = await create_as("nobody", "nobody.internal")
    assert (status, error["code"]) == (401, "unauthenticated")
