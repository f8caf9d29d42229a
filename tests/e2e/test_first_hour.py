"""A newcomer's first hour, as written: the banner's commands work when pasted, the example runs twice and
says what it did, ./dev help lists every sub-command the README uses, and the packaging is quiet."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import tomllib
from pathlib import Path

from taskrouter_gateway.cli import build_parser

import dev_serve

ROOT = Path(__file__).resolve().parents[2]


def _dev_subcommands() -> set[str]:
    help_text = subprocess.run(["./dev", "help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "set -euo" not in help_text
    listed = set(re.findall(r"^\s*\./dev ([a-z-]+)", help_text, flags=re.MULTILINE))
    # Every case label of the script is listed, and nothing else.
    script = (ROOT / "dev").read_text().split('case "$cmd" in', 1)[1]
    handled = {name for label in re.findall(r"^  ([a-z|-]+)\)$", script, flags=re.MULTILINE)
               for name in label.split("|") if not name.startswith("-")}
    assert listed == handled - {"-h", "--help"}, (listed, handled)
    return listed


def test_dev_help_lists_every_subcommand_and_the_readme_uses_only_those():
    listed = _dev_subcommands()
    assert {"serve", "test", "example", "tail", "python", "emulator", "gen", "bench", "help"} <= listed
    readme = (ROOT / "README.md").read_text()
    used = set(re.findall(r"\./dev ([a-z-]+)", readme))
    assert used <= listed, used - listed


def test_help_shows_no_empty_defaults_and_packaging_is_current():
    parser = build_parser()
    for command in ("serve", "tail", "configure-callback"):
        text = parser._subparsers._group_actions[0].choices[command].format_help()  # type: ignore[union-attr]
        flat = " ".join(text.split())
        assert "default None" not in flat and "default ]" not in flat and "default ;" not in flat, command
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"  # the SPDX string form: no setuptools warnings
    assert any(req.startswith("setuptools>=77") for req in project["build-system"]["requires"])
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "*.sqlite3.lock" in ignored and ".data/" in ignored


def test_banner_commands_work_when_pasted_and_the_example_runs_twice(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "TASKROUTER_GATEWAY_"))}
    command = ["./dev", "serve", "--grpc-port", "0", "--webhook-port", "0", "--http-port", "0", "--data-dir", str(tmp_path / "data"),
               "--log-format", "json"]
    with dev_serve.running(command, env) as (proc, banner):
        target = re.search(r"gRPC on ([\d.]+:\d+)", banner).group(1)
        try_it = banner.split("Try it:\n", 1)[1].splitlines()
        pasted = [line.strip() for line in try_it if line.startswith("  ./dev ")]
        assert any(" python -c " in line for line in pasted) and any(" example " in line for line in pasted)
        assert all(target in line for line in pasted)
        assert "go install github.com/fullstorydev/grpcurl" in banner
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))

        outputs = []
        for command in pasted + [line for line in pasted if " example " in line]:  # the example twice
            result = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True,
                                    timeout=120)
            assert result.returncode == 0, (command, result.stderr[-2000:])
            outputs.append(result.stdout)
        assert "Available" in outputs[0]  # ListActivities printed
        first, second = outputs[-2], outputs[-1]
        assert "created Alice: WK" in first and "found Alice from an earlier run: WK" in second
        assert all("updated Alice's skills to ['sales', 'support']" in out for out in (first, second))
        # The README's Python block, pasted into ./dev python, twice (only the address differs).
        block = (ROOT / "README.md").read_text().split("```python\n", 1)[1].split("```", 1)[0]
        assert '"127.0.0.1:50051"' in block
        for _ in range(2):
            result = subprocess.run(["./dev", "python", "-c", block.replace("127.0.0.1:50051", target)], cwd=ROOT,
                                    env=env, capture_output=True, text=True, timeout=120)
            assert result.returncode == 0, result.stderr[-2000:]
            assert "Alice is WK" in result.stdout and "updated Alice, etag" in result.stdout
        if shutil.which("grpcurl"):
            grpcurl = next(line.strip() for line in try_it if line.strip().startswith("grpcurl "))
            assert subprocess.run(["bash", "-c", grpcurl], capture_output=True, timeout=60).returncode == 0

        watch = banner.split("Watch events: ", 1)[1].splitlines()[0]
        assert watch.startswith("./dev tail ")
        tail = subprocess.run(["bash", "-c", f"{watch} --type worker.created --since {since} --limit 1"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert tail.returncode == 0 and "worker.created" in tail.stdout, tail.stderr[-2000:]
        dev_serve.stop(proc)
