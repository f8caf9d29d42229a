"""The README's Connect lines, run as written (bash and curl) against a live gateway: they must keep working."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
from pathlib import Path


README = Path(__file__).resolve().parents[3] / "README.md"


def _blocks() -> list[str]:
    section = README.read_text().split("## Connect: curl, browsers and the console", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", section, re.S)


def _script(block: str, gateway_url: str, workspace: str) -> str:
    # The README's lines, pointed at this gateway; comment lines (the pasted answers) are left out.
    lines = [line for line in block.splitlines() if not line.startswith("#")]
    return f"WS={workspace} GW={gateway_url}\n" + "\n".join(lines).replace("WS=WS00000000000000000000000000000001 GW=http://127.0.0.1:8081", "")


async def _bash(script: str, timeout: float) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec("bash", "-c", script, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        out, _ = await process.communicate()
    return process.returncode or 0, out.decode()


async def test_the_readme_unary_lines_create_list_and_show_an_error(connect_gateway, ws):
    unary, _ = _blocks()
    code, out = await _bash(_script(unary, connect_gateway.http_url, ws), 30)
    assert code == 0, out
    made, listed = _json_objects(out.split("HTTP/1.1")[0])[:2]
    assert made["friendlyName"] == "Alice" and made["sid"].startswith("WK")
    assert [w["friendlyName"] for w in listed["workers"]] == ["Alice"]
    assert "HTTP/1.1 400 Bad Request" in out
    error = json.loads(out[out.index('{"code"'):])
    assert error["code"] == "invalid_argument" and "friendly_name" in error["message"]


async def test_the_readme_stream_lines_print_one_message_per_line(connect_gateway, ws, http):
    _, stream = _blocks()
    process = await asyncio.create_subprocess_exec(
        "bash", "-c", _script(stream, connect_gateway.http_url, ws), stdout=asyncio.subprocess.PIPE,
        start_new_session=True)  # its own process group: bash, curl and python go together at the end
    assert process.stdout is not None
    try:
        async with asyncio.timeout(15):
            assert json.loads(await process.stdout.readline()) == {}  # subscribed: what is made now comes through
            async with http.post(f"{connect_gateway.http_url}/taskrouter.gateway.v1.WorkerService/CreateWorker",
                                 json={"workspaceSid": ws, "friendlyName": "Carol"}) as response:
                made = (await response.json())["sid"]
            seen: list[str] = []
            while made not in seen:
                line = await process.stdout.readline()
                assert line, "the stream ended"
                seen += [item["event"]["resourceSid"] for item in json.loads(line)["events"]]
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        await process.wait()


def _json_objects(text: str) -> list[dict]:
    decoder, objects, at = json.JSONDecoder(), [], 0
    while at < len(text):
        if text[at] != "{":
            at += 1
            continue
        value, at = decoder.raw_decode(text, at)
        objects.append(value)
    return objects
