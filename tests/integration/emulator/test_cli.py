"""The `taskrouter-emulator` command: start-up banner, serving, clean stop on SIGINT/SIGTERM, bad flags."""

from __future__ import annotations

import asyncio
import re
import signal
import sys

import aiohttp
import pytest

from taskrouter_emulator import defaults
from taskrouter_emulator.testing import basic_auth_header

COMMAND = (sys.executable, "-m", "taskrouter_emulator.cli")
WAIT = 20  # seconds: an upper bound on start-up/shutdown, never a pause


async def run_to_end(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *COMMAND, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), WAIT)
    return proc.returncode, out.decode(), err.decode()


async def test_help_lists_the_flags():
    code, out, _ = await run_to_end("--help")
    assert code == 0
    for flag in ("--host", "--port", "--state-file", "--public-base-url"):
        assert flag in out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_serves_then_stops_cleanly_on_a_signal(tmp_path, sig):
    state = tmp_path / "cli.sqlite3"
    proc = await asyncio.create_subprocess_exec(
        *COMMAND,
        "--port",
        "0",
        "--state-file",
        str(state),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        banner = []
        while not any("Ctrl-C" in line for line in banner):
            line = await asyncio.wait_for(proc.stdout.readline(), WAIT)
            assert line, f"emulator exited early: {(await proc.stderr.read()).decode()}"
            banner.append(line.decode())
        text = "".join(banner)
        base_url = re.search(r"listening on (http://127\.0\.0\.1:\d+)", text).group(1)
        assert defaults.DEFAULT_WORKSPACE_SID in text
        assert defaults.DEFAULT_ACCOUNT_SID in text and defaults.DEFAULT_AUTH_TOKEN in text
        assert defaults.DEFAULT_API_KEY_SID in text and str(state) in text
        headers = basic_auth_header(defaults.DEFAULT_ACCOUNT_SID, defaults.DEFAULT_AUTH_TOKEN)
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.get(f"{base_url}/v1/Workspaces/{defaults.DEFAULT_WORKSPACE_SID}") as resp:
                assert resp.status == 200
        proc.send_signal(sig)
        rest, _ = await asyncio.wait_for(proc.communicate(), WAIT)
        assert proc.returncode == 0
        assert "stopped" in rest.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert state.exists()


@pytest.mark.parametrize(
    "args, mentions",
    [(["--port", "70000"], "port"), (["--public-base-url", "not-a-url"], "public_base_url")],
)
async def test_bad_settings_exit_2_with_a_message(args, mentions):
    code, _, err = await run_to_end(*args)
    assert code == 2 and mentions in err


async def test_an_unusable_state_file_exits_2(tmp_path):
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"not a database " * 200)
    code, _, err = await run_to_end("--port", "0", "--state-file", str(bad))
    assert code == 2 and "cannot use state file" in err
