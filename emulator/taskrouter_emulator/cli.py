"""`taskrouter-emulator`: run the emulator until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from . import defaults
from .config import EmulatorConfig
from .persistence import StateFileError
from .server import start_emulator


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taskrouter-emulator",
        description="A stateful Twilio TaskRouter REST emulator (Workspaces, Activities, Workers, Events, "
        "Call Events) for local development and tests.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8181, help="port to bind; 0 picks a free one (default: 8181)")
    parser.add_argument(
        "--state-file", default=None, help="SQLite file that keeps state across restarts (default: in memory only)"
    )
    parser.add_argument(
        "--public-base-url",
        default=None,
        help="base of the absolute URLs in responses, e.g. http://emulator.local:8181 (default: the bound address)",
    )
    return parser


async def serve(config: EmulatorConfig) -> None:
    running = await start_emulator(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"TaskRouter emulator listening on {running.base_url}", flush=True)
    print(f"  default workspace: {config.default_workspace_sid} ({defaults.DEFAULT_WORKSPACE_NAME})")
    print(f"  account SID / auth token:   {config.account_sid} / {config.auth_token}")
    print(f"  API key SID / secret:       {config.api_key_sid} / {config.api_key_secret}")
    print(f"  state: {config.state_file or 'in memory'}   (Ctrl-C to stop)", flush=True)
    try:
        await stop.wait()
    finally:
        await running.stop()
        print("TaskRouter emulator stopped", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = EmulatorConfig(
            host=args.host, port=args.port, state_file=args.state_file, public_base_url=args.public_base_url
        )
        asyncio.run(serve(config))
    except (ValueError, StateFileError, OSError) as exc:
        print(f"taskrouter-emulator: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
