"""Unary CPU per request with the security and observability features on, each against a gateway with all of
them off, in the same run: bearer-token auth, Prometheus metrics, both, TLS + auth, tracing with sampling off,
and everything together. One gateway process per variant, measured interleaved; the median of the
repeats is the figure."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path
from typing import Any

from ..context import RunContext
from ..stats import median_rows
from .unary import _row

TOKEN = "bench-token-not-a-secret"


def _pki(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 (cryptography is a dev dependency, as bench is)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gateway")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "bench-ca.crt", directory / "bench-server.crt", directory / "bench-server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


def run(ctx: RunContext) -> dict[str, Any]:
    from taskrouter_gateway.auth import hash_token

    size = ctx.size
    emulator = ctx.ensure_emulator()
    sids = ctx.ensure_workers(size.unary_workers)
    ca, cert, key = _pki(ctx.work_dir)
    auth_file = ctx.work_dir / "bench-callers.toml"
    auth_file.write_text(f'[[caller]]\nname = "bench"\ntoken_sha256 = "{hash_token(TOKEN)}"\nscopes = ["read"]\n'
                         'workspaces = ["*"]\n')
    tls = ["--tls-cert", str(cert), "--tls-key", str(key)]
    auth = ["--auth-file", str(auth_file)]
    metrics = ["--admin-port", "0"]
    # An exporter is configured but sampling is off, so nothing is ever exported (the endpoint is never dialled).
    tracing = {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_TRACES_SAMPLER": "always_off",
               "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
    token = {"token": TOKEN}
    tls_token = {"ca_pem": str(ca), "token": TOKEN}
    variants: dict[str, tuple[dict[str, str], list[str], dict[str, Any]]] = {
        "all off": ({}, [], {}),
        "token auth": ({}, auth, token),
        "metrics": ({}, metrics, {}),
        "token auth + metrics": ({}, auth + metrics, token),
        "TLS + token auth": ({}, tls + auth, tls_token),
        "tracing, sampling off": (tracing, [], {}),
        "TLS + auth + metrics + tracing (sampling off)": (tracing, tls + auth + metrics, tls_token),
    }
    gateways = {name: ctx.start_gateway(f"features-{i}", env, args) for i, (name, (env, args, _)) in
                enumerate(variants.items())}
    concurrency = max(size.unary_concurrency)
    window = {"warmup": size.warmup, "seconds": size.seconds}
    server, load_core = min(ctx.cores.server), min(ctx.cores.load)
    runs: list[dict[str, Any]] = []
    try:
        names = list(variants)
        for repeat in range(size.repeats):
            # Rotated each repeat, so no variant always runs first (or right after the same neighbour).
            for name in names[repeat % len(names):] + names[: repeat % len(names)]:
                client = variants[name][2]
                gateway = gateways[name]
                ctx.place([gateway.process], [emulator.process])
                measured = ctx.measure(
                    {"gateway": gateway.process, "emulator": emulator.process}, "bench.jobs_features:grpc_get_worker",
                    target=gateway.grpc_target, workspace_sid=emulator.workspace_sid, sids=sids,
                    concurrency=concurrency, **client, **window,
                )
                runs.append(_row(name, concurrency, measured, "gateway",
                                 f"gateway core {server}; emulator and load share core {load_core}"))
    finally:
        for gateway in gateways.values():
            gateway.process.stop()
        ctx.place([], [emulator.process])
    rows = median_rows(runs, ("client", "concurrency"))
    base = next(r for r in rows if r["client"] == "all off")["server_cpu_us_per_request"]
    derived = [
        {"variant": r["client"], "cpu_us_per_request": r["server_cpu_us_per_request"],
         "cpu_ratio_vs_all_off": r["server_cpu_us_per_request"] / base, "errors": r["errors"]}
        for r in rows
    ]
    return {"concurrency": concurrency, "repeats": size.repeats, "rows": rows, "derived": derived}
