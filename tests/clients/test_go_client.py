"""clients/go: `go test` on the module against a live gateway, built offline from Debian's Go packages.

No module proxy: the module is copied into a temporary GOPATH and built in GOPATH mode beside
/usr/share/gocode (golang-google-grpc-dev, golang-google-protobuf-dev, golang-google-genproto-dev).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

DEBIAN_GOCODE = "/usr/share/gocode"
MODULE = "taskrouter.example/gateway"  # clients/go/go.mod


def test_go_module_runs_the_scenario(live_gateway, run_tool, repo_root: Path, tmp_path: Path) -> None:
    go = shutil.which("go")
    assert go, "the go toolchain is missing: apt-get install golang-go golang-google-grpc-dev (see .ci/run)"
    assert Path(DEBIAN_GOCODE, "src/google.golang.org/grpc").is_dir(), "apt-get install golang-google-grpc-dev"
    module = tmp_path / "gopath" / "src" / MODULE
    shutil.copytree(repo_root / "clients" / "go", module)
    env = {
        # Without GRPC_GO_RETRY: grpc-go v1.33 then ignores retryPolicy, so the retries the tests see are the client's.
        **{k: v for k, v in os.environ.items() if k != "GRPC_GO_RETRY"},
        "GO111MODULE": "off",
        "GOPATH": f"{tmp_path / 'gopath'}:{DEBIAN_GOCODE}",
        "GOPROXY": "off",
        "GOFLAGS": "",
        "GATEWAY_TARGET": live_gateway.target,
        "GATEWAY_WORKSPACE": live_gateway.workspace,
    }
    run_tool([go, "vet", "./..."], cwd=module, env=env)
    out = run_tool([go, "test", "-count=1", "-v", "./..."], cwd=module, env=env)
    assert "--- PASS: TestScenarioAgainstALiveGateway" in out, out
    for name in (
        "TestDetailsDecodesErrorInfoBadRequestAndRetryInfo",
        "TestTheServiceConfigRetriesIdempotentMethodsOnly",
        "TestWithoutRetryMakesOneAttempt",
        "TestATokenTravelsAsBearerMetadata",
        "TestRetriesStopAtMaxAttempts",
        "TestANonRetryableCodeIsNotRetried",
        "TestADeadlineStopsRetrying",
        "TestAServiceWideEntryCoversEveryMethod",
        "TestAMalformedServiceConfigIsRejected",
    ):
        assert f"--- PASS: {name}" in out, out
