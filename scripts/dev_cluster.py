"""`./dev cluster`: the scale-out layout on one machine, to watch it work.

Starts a three-node NATS JetStream cluster (sync_interval always), one TaskRouter emulator, two gateway
replicas on an R3 stream, and a small round-robin proxy standing in for the load balancer: the emulator's
EventCallbackUrl is the proxy's URL, which is also every replica's --webhook-public-url, so signatures verify
on both. Ctrl-C stops everything; the data lives in a temporary directory removed at exit.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from aiohttp import ClientSession, web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the same nats-server helpers the tests use

from natsutil import NatsCluster, free_port  # noqa: E402

from taskrouter_emulator import defaults  # noqa: E402

WEBHOOK_PATH = "/twilio/taskrouter/events"
STREAM = "TASKROUTER_EVENTS"


async def round_robin_proxy(targets: list[str], port: int) -> web.AppRunner:
    """The load balancer: each callback to the next replica; one that is down is skipped."""
    turn = itertools.count()
    session = ClientSession()

    async def forward(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "x-twilio-signature")}
        start = next(turn)
        for i in range(len(targets)):
            target = targets[(start + i) % len(targets)]
            try:
                async with session.post(target, data=body, headers=headers) as reply:
                    return web.Response(status=reply.status, body=await reply.read(),
                                        content_type=reply.content_type)
            except OSError:
                continue
        return web.Response(status=502, text="no replica reachable")

    app = web.Application()
    app.router.add_post(WEBHOOK_PATH, forward)
    app.on_cleanup.append(lambda _app: session.close())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="taskrouter-cluster-"))
    cluster = NatsCluster(workdir, size=3)
    processes: list[subprocess.Popen[bytes]] = []
    proxy: web.AppRunner | None = None
    try:
        cluster.start()
        emulator_port = free_port()
        emulator_url = f"http://127.0.0.1:{emulator_port}"
        processes.append(subprocess.Popen([sys.executable, "-m", "taskrouter_emulator.cli", "--port", str(emulator_port)],
                                          stdout=subprocess.DEVNULL))
        lb_port = free_port()
        public_url = f"http://127.0.0.1:{lb_port}{WEBHOOK_PATH}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "TASKROUTER_GATEWAY_"))}
        env.update(TWILIO_ACCOUNT_SID=defaults.DEFAULT_ACCOUNT_SID, TWILIO_AUTH_TOKEN=defaults.DEFAULT_AUTH_TOKEN,
                   TASKROUTER_GATEWAY_TASKROUTER_BASE_URL=emulator_url, TASKROUTER_GATEWAY_API_BASE_URL=emulator_url,
                   TASKROUTER_GATEWAY_WORKSPACES=defaults.DEFAULT_WORKSPACE_SID)
        replicas = []
        for grpc_port in (free_port(), free_port()):
            webhook_port = free_port()
            replicas.append((f"127.0.0.1:{grpc_port}", f"http://127.0.0.1:{webhook_port}{WEBHOOK_PATH}"))
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "taskrouter_gateway.cli", "serve", "--grpc-port", str(grpc_port),
                 "--webhook-port", str(webhook_port), "--webhook-public-url", public_url,
                 "--event-backend", "nats", "--nats-url", cluster.url_list, "--nats-replicas", "3",
                 "--log-format", "console", "--log-level", "warning"],
                env=env, stdout=subprocess.DEVNULL,
            ))
            # One at a time: the first creates the stream, the second checks it.
            await wait_grpc(replicas[-1][0], processes[-1])
        proxy = await round_robin_proxy([webhook for _, webhook in replicas], lb_port)
        configure = subprocess.run(
            [sys.executable, "-m", "taskrouter_gateway.cli", "configure-callback", "--target", replicas[0][0],
             "--workspace", defaults.DEFAULT_WORKSPACE_SID], capture_output=True, text=True, env=env)
        if configure.returncode != 0:
            raise RuntimeError(configure.stderr.strip())
        ws = defaults.DEFAULT_WORKSPACE_SID
        (a, _), (b, _) = replicas
        print(f"""
Scale-out cluster up (data in {workdir}):
  NATS nodes     {cluster.url_list}   (monitoring: {', '.join(f'http://127.0.0.1:{n.http_port}' for n in cluster.nodes)})
  stream         {STREAM}, 3 replicas, sync_interval always
  emulator       {emulator_url}  (account {defaults.DEFAULT_ACCOUNT_SID}, workspace {ws})
  load balancer  {public_url}  -> both replicas (the workspace's EventCallbackUrl)
  replica A      gRPC {a}
  replica B      gRPC {b}

Watch events on each replica (two terminals):
  .venv/bin/taskrouter-gateway tail --target {a} --workspace {ws}
  .venv/bin/taskrouter-gateway tail --target {b} --workspace {ws}
Make events (each callback lands on one replica; both tails print it, with the same cursor):
  curl -s -u {defaults.DEFAULT_ACCOUNT_SID}:{defaults.DEFAULT_AUTH_TOKEN} -d FriendlyName=Alice {emulator_url}/v1/Workspaces/{ws}/Workers
Lose a broker and see nothing stop: kill -9 {cluster.nodes[0].process.pid if cluster.nodes[0].process else '?'}  (node n1)
Ctrl-C stops everything.""", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        return 0
    finally:
        if proxy is not None:
            await proxy.cleanup()
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


async def wait_grpc(target: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with grpc.aio.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the replica on {target} exited (code {process.returncode})")
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            if loop.time() > deadline:
                raise TimeoutError(f"the replica on {target} did not start")
            await asyncio.sleep(0.2)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
