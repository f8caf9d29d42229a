"""clients/python installed on its own, into a fresh venv with no server code, runs the scenario live."""

from __future__ import annotations

import os
import venv
from pathlib import Path


def test_python_package_installs_alone_and_runs_the_scenario(live_gateway, run_tool, repo_root: Path,
                                                              tmp_path: Path) -> None:
    venv.EnvBuilder(with_pip=True).create(tmp_path / "venv")
    py = str(tmp_path / "venv" / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    run_tool([py, "-m", "pip", "install", "-q", str(repo_root / "clients" / "python")], cwd=tmp_path, env=env)
    # Only the client is there: the gateway and the emulator cannot be imported.
    probe = "import importlib.util as u; print([m for m in ('taskrouter_gateway', 'taskrouter_emulator', 'aiohttp') if u.find_spec(m)])"
    assert run_tool([py, "-c", probe], cwd=tmp_path, env=env).strip() == "[]"
    out = run_tool([py, str(repo_root / "clients" / "python" / "examples" / "scenario.py"), live_gateway.target,
                    live_gateway.workspace], cwd=tmp_path, env=env, timeout=120)
    assert "scenario passed" in out
