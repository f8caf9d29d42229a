"""`taskrouter-gateway`: the command line."""

from __future__ import annotations

import argparse
import asyncio
import gc
import shlex
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from . import config, logs

if TYPE_CHECKING:
    from .app import Gateway

_SERVE_FLAGS: tuple[tuple[str, str, type, str], ...] = (
    # (setting, flag, type, help)
    ("grpc_host", "--grpc-host", str, "gRPC listen host (use 0.0.0.0 in containers)"),
    ("grpc_port", "--grpc-port", int, "gRPC listen port; 0 picks a free one"),
    ("webhook_host", "--webhook-host", str, "event webhook listen host"),
    ("webhook_port", "--webhook-port", int, "event webhook listen port; 0 picks a free one"),
    ("webhook_path", "--webhook-path", str, "event webhook path"),
    ("webhook_public_url", "--webhook-public-url", str, "the URL Twilio calls and signs, when behind a proxy"),
    ("data_dir", "--data-dir", str, "directory for the event log and, in embedded mode, the emulator's state"),
    ("event_log_path", "--event-log", str, "SQLite file of the durable event log"),
    ("event_retention_days", "--event-retention-days", int, "days events stay in the log"),
    ("event_log_max_mb", "--event-log-max-mb", int, "size cap of the event log in MiB; 0 for none"),
    ("event_backend", "--event-backend", str, "event log backend: sqlite (one process) or nats (JetStream, replicas)"),
    ("nats_url", "--nats-url", str, "NATS server URLs, comma-separated (--event-backend nats)"),
    ("nats_credentials", "--nats-credentials", str, "NATS .creds file (JWT and nkey seed)"),
    ("nats_user", "--nats-user", str, "NATS user name (password from the environment variable shown)"),
    ("nats_tls_ca", "--nats-tls-ca", str, "CA bundle that signed the NATS servers' certificates"),
    ("nats_tls_cert", "--nats-tls-cert", str, "client certificate for NATS mutual TLS"),
    ("nats_tls_key", "--nats-tls-key", str, "private key of --nats-tls-cert"),
    ("nats_stream", "--nats-stream", str, "JetStream stream holding the events"),
    ("nats_subject_prefix", "--nats-subject-prefix", str, "subject prefix: <prefix>.<workspace>.<event type>"),
    ("nats_replicas", "--nats-replicas", int, "stream replicas: 1, or 3 on a three-node cluster"),
    ("workspaces", "--workspaces", str, "comma-separated WS SIDs to backfill at start-up"),
    ("taskrouter_base_url", "--taskrouter-base-url", str, "TaskRouter REST base URL"),
    ("api_base_url", "--api-base-url", str, "Twilio 2010 API base URL (Call Events)"),
    ("emulator_port", "--emulator-port", int, "embedded emulator port (no credentials only); 0 picks one"),
    ("emulator_state_file", "--emulator-state-file", str, "SQLite file that keeps emulator state across restarts; '' for none"),
    ("log_format", "--log-format", str, "auto, json or console"),
    ("log_level", "--log-level", str, "debug, info, warning or error"),
    ("shutdown_grace_seconds", "--shutdown-grace", float, "seconds in-flight RPCs get to finish on SIGTERM"),
    ("tls_cert", "--tls-cert", str, "PEM certificate chain for TLS on the gRPC port (re-read on change or SIGHUP)"),
    ("tls_key", "--tls-key", str, "PEM private key of --tls-cert"),
    ("tls_client_ca", "--tls-client-ca", str, "PEM CA bundle: require client certificates it signed (mTLS)"),
    ("auth_file", "--auth-file", str, "TOML file of caller identities and scopes; unset: no auth"),
    ("admin_host", "--admin-host", str, "admin HTTP host (/metrics, /healthz, /readyz)"),
    ("admin_port", "--admin-port", int, "admin HTTP port; unset: no admin server; 0 picks a free one"),
    ("http_host", "--http-host", str, "Connect port host (JSON and binary RPCs over HTTP, and /console)"),
    ("http_port", "--http-port", int, "Connect port: every RPC for curl and browsers, the console at /console; "
     "unset: off; 0 picks a free one"),
    ("http_cors_origin", "--http-cors-origin", str, "comma-separated browser origins allowed to call the Connect "
     "port (e.g. https://dash.example.com); none by default"),
    ("realtime_statistics_staleness", "--realtime-statistics-staleness", float,
     "seconds a real-time statistics answer may be served from cache when the request sets no "
     "read_options.max_staleness; 0 sends each one to TaskRouter"),
    ("read_cache_entries", "--read-cache-entries", int, "most answers the read cache holds"),
    ("read_cache_mb", "--read-cache-mb", int, "most MiB of answers the read cache holds"),
)

_DEFAULTS = config.Settings()
# Defaults that are not a plain value.
_DEFAULT_TEXT = {
    "event_log_path": "<data-dir>/events.sqlite3",
    "emulator_state_file": "<data-dir>/emulator.sqlite3",
    "webhook_public_url": "the listen address",
    "workspaces": "every workspace of the account",
    "http_cors_origin": "none",
}


def _default_text(setting: str) -> str:
    value = getattr(_DEFAULTS, setting)
    return _DEFAULT_TEXT.get(setting) or ("unset" if value is None else str(value))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taskrouter-gateway",
        description="A gRPC gateway in front of Twilio TaskRouter. With no TWILIO_ACCOUNT_SID set it runs on an "
        "embedded TaskRouter emulator.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="run the gateway",
        description="Run the gateway. Every flag can also be set by the environment variable shown; flags win. "
        f"Credentials: {config.ENV_ACCOUNT_SID} with {config.ENV_AUTH_TOKEN}, or with {config.ENV_API_KEY} and "
        f"{config.ENV_API_SECRET}. NATS secrets only from the environment: {config.env_name('nats_password')}, "
        f"{config.env_name('nats_token')}.",
    )
    for setting, flag, kind, text in _SERVE_FLAGS:
        serve.add_argument(
            flag,
            dest=setting,
            type=kind,
            default=None,
            help=f"{text} [env {config.env_name(setting)}; default {_default_text(setting)}]",
        )
    serve.add_argument(
        "--no-redact-pii",
        dest="redact_pii",
        action="store_const",
        const=False,
        default=None,
        help=f"log worker attributes, friendly names and event descriptions [env {config.env_name('redact_pii')}]",
    )
    serve.add_argument(
        "--no-coalesce-reads",
        dest="coalesce_reads",
        action="store_const",
        const=False,
        default=None,
        help="send every read to TaskRouter even while an identical one is in flight "
        f"[env {config.env_name('coalesce_reads')}]",
    )
    serve.add_argument(
        "--emulator-allow-remote-callbacks",
        dest="emulator_allow_remote_callbacks",
        action="store_const",
        const=True,
        default=None,
        help="let the embedded emulator POST callbacks (EventCallbackUrl, AssignmentCallbackUrl) to hosts other "
        "than loopback; without it such a URL is refused when set (INVALID_ARGUMENT) "
        f"[env {config.env_name('emulator_allow_remote_callbacks')}; default off]",
    )
    tail = commands.add_parser(
        "tail",
        help="print a workspace's events as they happen, one line each",
        description="Follow StreamEvents in a terminal. Each line ends with the event's cursor; pass it to "
        "--after to resume exactly there.",
    )
    from .tail import add_tail_arguments

    add_tail_arguments(tail)
    configure = commands.add_parser(
        "configure-callback",
        help="point a workspace's EventCallbackUrl at a gateway and set its EventsFilter",
    )
    configure.add_argument("--target", default="127.0.0.1:50051", help="the gateway's gRPC address [default %(default)s]")
    configure.add_argument("--workspace", required=True, help="WS SID of the workspace")
    configure.add_argument("--url", default="", help="callback URL (default: the gateway's own webhook URL)")
    configure.add_argument("--type", dest="event_types", action="append", default=[],
                           help="event type to deliver (exact, repeatable); none: every event")
    hash_token = commands.add_parser(
        "hash-token",
        help="print the SHA-256 of a bearer token, for token_sha256 in the --auth-file",
        description="Reads the token from standard input (not the command line, which other users can see in "
        "ps and shell history) and prints its hash. --generate makes a new random token and prints both. "
        "The [[caller]] entry that lists the hash also needs name, scopes and workspaces "
        '(WS SIDs, or ["*"] for every workspace: a caller without workspaces is refused at load).',
    )
    hash_token.add_argument("--generate", action="store_true", help="generate a new token (printed once)")
    return parser


def _hash_token(args) -> int:
    import secrets

    from .auth import hash_token

    if args.generate:
        token = secrets.token_urlsafe(32)
        print(f"token:        {token}")
        print(f"token_sha256: {hash_token(token)}")
        return 0
    token = sys.stdin.readline().strip()
    if not token:
        print("taskrouter-gateway hash-token: no token on standard input", file=sys.stderr)
        return 2
    print(hash_token(token))
    return 0


def _configure_callback(args) -> int:
    import grpc

    from taskrouter.gateway.v1 import event_service_pb2 as svc, event_service_pb2_grpc

    with grpc.insecure_channel(args.target) as channel:
        stub = event_service_pb2_grpc.EventServiceStub(channel)
        try:
            workspace = stub.ConfigureEventCallback(
                svc.ConfigureEventCallbackRequest(
                    workspace_sid=args.workspace, callback_url=args.url, event_types=args.event_types
                ),
                timeout=30,
            )
        except grpc.RpcError as err:
            print(f"taskrouter-gateway configure-callback: {err.code().name}: {err.details()}", file=sys.stderr)
            return 1
    print(f"{workspace.sid}: EventCallbackUrl={workspace.event_callback_url} EventsFilter={workspace.events_filter or '(all)'}")
    return 0


def _dev_command() -> str | None:
    """How to run ./dev from the current directory, when this is a checkout (editable install), else None."""
    dev = Path(__file__).resolve().parents[2] / "dev"
    if not dev.is_file():
        return None
    return "./dev" if Path.cwd().resolve() == dev.parent else shlex.quote(str(dev))


def _banner(gateway: Gateway) -> str:
    target = gateway.grpc_target
    lines = [f"TaskRouter gateway: gRPC on {target}, event webhook on {gateway.webhook_url}"]
    if gateway.http_port:
        lines.append(f"Connect (curl, browsers): {gateway.http_url}; console: {gateway.http_url}/console/")
    if gateway.admin_port:
        lines.append(f"Admin: http://{gateway.settings.admin_host}:{gateway.admin_port}/metrics, /healthz, /readyz")
    if gateway.emulator is not None:
        ws = gateway.emulator.default_workspace_sid
        dev = _dev_command()
        # Commands that work when pasted: through ./dev (its .venv has grpc and the stubs) in a checkout.
        python = f"{dev} python" if dev else "python"
        tail = f"{dev} tail" if dev else "taskrouter-gateway tail"
        lines += [
            f"Upstream: embedded TaskRouter emulator at {gateway.emulator.base_url} (no Twilio credentials set)",
            f"Data: {gateway.settings.data_dir}/ (event log and emulator state; delete it to start afresh)",
            f"Default workspace: {ws}",
            f"Emulator test credentials: account {gateway.emulator.account_sid}, token {gateway.emulator.auth_token}",
            "Try it:",
            f"  {python} -c \"import grpc; from taskrouter.gateway.v1 import activity_service_pb2 as m, "
            "activity_service_pb2_grpc as g; "
            f"print(g.ActivityServiceStub(grpc.insecure_channel('{target}')).ListActivities("
            f"m.ListActivitiesRequest(workspace_sid='{ws}')))\"",
        ]
        if dev:
            lines.append(f"  {dev} example --target {target} --workspace {ws}")
        if gateway.http_port:
            lines.append(f"  curl -H 'content-type: application/json' -d '{{\"workspaceSid\": \"{ws}\"}}' "
                         f"{gateway.http_url}/taskrouter.gateway.v1.ActivityService/ListActivities")
        lines += [
            f"  grpcurl -plaintext -d '{{\"workspace_sid\": \"{ws}\"}}' {target} "
            "taskrouter.gateway.v1.ActivityService/ListActivities",
            "  (grpcurl is not a Debian package: go install github.com/fullstorydev/grpcurl/cmd/grpcurl@latest,"
            " or a release from https://github.com/fullstorydev/grpcurl/releases)",
            f"Watch events: {tail} --target {target} --workspace {ws}",
        ]
    else:
        lines.append(f"Upstream: {gateway.settings.taskrouter_base_url}")
    return "\n".join(lines)


async def _serve(settings: config.Settings) -> int:
    from .app import Gateway, StartupError

    gateway = Gateway(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await gateway.start()  # a failed start has already released what it took
    except StartupError as exc:
        print(f"taskrouter-gateway: cannot start: {exc}", file=sys.stderr, flush=True)
        return 2
    loop.add_signal_handler(signal.SIGHUP, gateway.reload)
    # Start-up objects (protos, modules, config) live for the whole process: keep them out of every GC pass.
    gc.freeze()
    print(_banner(gateway), flush=True)
    await stop.wait()
    await gateway.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "tail":
        from .tail import main_tail

        return main_tail(args)
    if args.command == "configure-callback":
        return _configure_callback(args)
    if args.command == "hash-token":
        return _hash_token(args)
    overrides = {k: v for k, v in vars(args).items() if k != "command"}
    try:
        settings = config.load(**overrides)
    except config.ConfigError as exc:
        print(f"taskrouter-gateway: configuration error: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_format, settings.log_level, settings.redact_pii)
    if args.command == "serve":
        from .auth import AuthConfigError
        from .tls import TlsConfigError
        from .tracing import TracingConfigError

        try:
            return asyncio.run(_serve(settings))
        except (AuthConfigError, TlsConfigError, TracingConfigError) as exc:
            # Files named by settings (auth file, certificates, OTEL_*) that turn out unusable at start-up.
            print(f"taskrouter-gateway: configuration error: {exc}", file=sys.stderr)
            return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
