"""The repository is complete on its own: a clone with nothing beside it runs the tests that check the
code against Twilio's specs and doc pages (their data lives in tests/fixtures/, never in ../shared)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The modules that used to read ../shared/reference.
REFERENCE_TESTS = [
    "tests/unit/test_protos.py",
    "tests/unit/gateway/test_event_catalog.py",
    "tests/unit/gateway/test_event_translate.py",
    "tests/unit/gateway/test_translate_requests.py",
    "tests/integration/emulator/test_conformance.py",
]
_OUTSIDE = re.compile(r"\.\./shared|/work/shared|shared/reference|parent\s*/\s*[\"']shared")


def _tracked_text_files(root: Path) -> list[Path]:
    listed = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout
    return [root / name for name in listed.splitlines()
            if name.endswith((".py", ".sh", ".md", ".toml", ".json", ".txt")) and "/openapi/" not in name]


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    if not (ROOT / ".git").exists():
        pytest.fail(f"{ROOT} is not a git checkout")
    target = tmp_path_factory.mktemp("alone") / "repo"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(target)], check=True)
    assert sorted(p.name for p in target.parent.iterdir()) == ["repo"]  # nothing beside it
    return target


def test_no_file_reaches_outside_the_repository(clone: Path) -> None:
    this = Path(__file__).relative_to(ROOT)
    offenders = [str(path.relative_to(clone)) for path in _tracked_text_files(clone)
                 if path.relative_to(clone) != this and _OUTSIDE.search(path.read_text(errors="replace"))]
    assert offenders == []


def test_the_reference_tests_pass_in_a_clone_with_nothing_beside_it(clone: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(clone / p) for p in ("server", "emulator", "clients/python"))}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-k", "not generation and not check_",  # those need node_modules
         *REFERENCE_TESTS],
        cwd=clone, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert re.search(r"\d+ passed", result.stdout)
