"""clients/typescript as a user gets it: built with tsc, packed with `npm pack`, installed into an empty
project beside a newer @bufbuild/protobuf, type-checked under nodenext and run with Node's test runner."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest

SCRATCH_TSCONFIG = {
    "compilerOptions": {
        "target": "es2022", "lib": ["es2022", "dom"], "module": "nodenext", "moduleResolution": "nodenext",
        "types": ["node"], "strict": True, "skipLibCheck": False, "outDir": "out",
    },
    "include": ["*.ts"],
}
# A newer runtime than the stubs were generated with: as a peer dependency it is the only copy installed.
SCRATCH_DEPS = ["@bufbuild/protobuf@2.17.0", "typescript@5.9.3", "@types/node@20.19.9"]


def test_packed_tarball_installs_type_checks_and_runs_the_scenario(live_gateway, run_tool, repo_root: Path,
                                                                 typescript_dist: Path, tmp_path: Path) -> None:
    package = typescript_dist.parent
    packed = json.loads(run_tool(["npm", "pack", "--json", "--pack-destination", str(tmp_path), str(package)],
                                 cwd=repo_root))
    files = {f["path"] for f in packed[0]["files"]}
    assert {"dist/index.js", "dist/index.d.ts", "dist/gen/google/rpc/error_details_pb.js", "README.md"} <= files
    assert not any(f.startswith("src/") for f in files)
    tarball = tmp_path / packed[0]["filename"]

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "package.json").write_text(json.dumps({"name": "scratch", "private": True, "type": "module"}))
    (scratch / "tsconfig.json").write_text(json.dumps(SCRATCH_TSCONFIG))
    shutil.copy(package / "examples" / "scenario.test.ts", scratch)
    run_tool(["npm", "install", "--no-audit", "--no-fund", "--prefer-offline", str(tarball), *SCRATCH_DEPS],
             cwd=scratch)
    runtimes = sorted(p.parent for p in (scratch / "node_modules").rglob("@bufbuild/protobuf/package.json"))
    assert runtimes == [scratch / "node_modules" / "@bufbuild" / "protobuf"], runtimes

    tsc = str(scratch / "node_modules" / ".bin" / "tsc")
    run_tool([tsc, "--noEmit", "-p", "."], cwd=scratch)
    run_tool([tsc, "-p", "."], cwd=scratch)
    env = {**os.environ, "GATEWAY_TARGET": live_gateway.target, "GATEWAY_WORKSPACE": live_gateway.workspace}
    out = run_tool(["node", "--test", "out/"], cwd=scratch, env=env, timeout=180)
    assert "# pass 1" in out and "# fail 0" in out, out


PROBE_CLIENT = """
import { Code, ConnectError } from "@connectrpc/connect";
import { createGatewayClient, createGatewayTransport } from "./dist/index.js";
import { WorkerService } from "./dist/gen/taskrouter/gateway/v1/worker_service_pb.js";
const [target, retry] = process.argv.slice(2);
const transport = createGatewayTransport({ address: target, token: "ts-token", retry: retry === "off" ? false : undefined });
const workers = createGatewayClient(WorkerService, transport);
const outcome = async (call) => { try { await call; return "ok"; } catch (e) { return Code[ConnectError.from(e).code]; } };
const get = await outcome(workers.getWorker({ sid: "WK1" }));
const create = await outcome(workers.createWorker({ friendlyName: "x" }));
transport.close();
console.log(JSON.stringify({ get, create }));
"""


@pytest.mark.parametrize("retry,expected,get_calls", [("on", {"get": "ok", "create": "Unavailable"}, 2),
                                                      ("off", {"get": "Unavailable", "create": "Unavailable"}, 1)])
async def test_the_retry_interceptor_follows_the_service_config_and_sends_the_token(
    probe, typescript_dist: Path, retry: str, expected: dict[str, str], get_calls: int
) -> None:
    probe.failures = 1
    # Beside dist/ so that "./dist/..." and the repo's node_modules resolve as they do for the package.
    script = typescript_dist.parent / f".probe-client-{os.getpid()}.mjs"
    script.write_text(PROBE_CLIENT)
    try:
        proc = await asyncio.create_subprocess_exec(
            "node", str(script), probe.target, retry, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        script.unlink()
    assert proc.returncode == 0, err.decode()
    assert json.loads(out) == expected
    assert probe.calls == {"GetWorker": get_calls, "CreateWorker": 1}
    assert {m.get("authorization") for m in probe.metadata} == {"Bearer ts-token"}


def test_the_package_installs_and_builds_on_its_own(run_tool, repo_root: Path, tmp_path: Path) -> None:
    """`npm install && npm run build` inside a copy of clients/typescript, away from the repository's root
    node_modules: tsc, @types/node and the protobuf runtime come from the package's own devDependencies,
    pinned to the versions the root lock already uses."""
    source = repo_root / "clients" / "typescript"
    package = tmp_path / "typescript"
    shutil.copytree(source, package, ignore=shutil.ignore_patterns("node_modules", "dist", ".probe-client-*"))
    manifest = json.loads((package / "package.json").read_text())
    lock = json.loads((repo_root / "package-lock.json").read_text())["packages"]
    dev = manifest["devDependencies"]
    assert {"typescript", "@types/node", "@bufbuild/protobuf"} <= set(dev)
    for name, version in dev.items():
        assert version == lock[f"node_modules/{name}"]["version"], name  # pinned, and what the root uses
    assert not (package / "node_modules").exists() and not any(p.name == "node_modules" for p in tmp_path.iterdir())
    run_tool(["npm", "install", "--no-audit", "--no-fund", "--prefer-offline"], cwd=package)
    run_tool(["npm", "run", "build"], cwd=package)
    assert (package / "dist" / "index.js").is_file() and (package / "dist" / "index.d.ts").is_file()
    assert (package / "dist" / "gen" / "taskrouter" / "gateway" / "v1" / "reservation_service_pb.js").is_file()
