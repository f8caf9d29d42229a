"""REST fault injection and the admin API, on a tiny real aiohttp app (127.0.0.1, port 0)."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from taskrouter_emulator.callbacks import CallbackDispatcher
from taskrouter_emulator.faults import CallbackFaults, FaultInjector
from taskrouter_emulator.middleware import fault_middleware
from taskrouter_emulator.routes.faults import register as register_admin_routes

WAIT = 10
WORKER = "/v1/Workspaces/WS1/Workers/WK1"


@dataclass
class Served:
    http: aiohttp.ClientSession
    injector: FaultInjector
    hits: list[tuple[str, str]] = field(default_factory=list)  # requests that reached the handler

    async def add_rest(self, **rule) -> dict:
        async with self.http.post("/admin/faults/rest", json=rule) as resp:
            assert resp.status == 201, await resp.text()
            return await resp.json()

    async def faults(self) -> dict:
        async with self.http.get("/admin/faults") as resp:
            assert resp.status == 200
            return await resp.json()

    async def status_of(self, method: str, path: str) -> int:
        async with self.http.request(method, path) as resp:
            await resp.read()
            return resp.status


@pytest.fixture
async def serve():
    cleanups = []

    async def start(injector: FaultInjector | None = None, dispatcher: CallbackDispatcher | None = None) -> Served:
        injector = injector or FaultInjector()
        app = web.Application(middlewares=[fault_middleware(injector)])
        register_admin_routes(app, injector, dispatcher)
        runner = web.AppRunner(app)
        http: aiohttp.ClientSession | None = None
        served = Served(http, injector)  # type: ignore[arg-type]

        async def handler(request: web.Request) -> web.Response:
            served.hits.append((request.method, request.path))
            return web.json_response({"ok": True})

        app.router.add_route("*", "/v1/{tail:.*}", handler)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        served.http = aiohttp.ClientSession(base_url=f"http://127.0.0.1:{runner.addresses[0][1]}")
        cleanups.append((served.http, runner))
        return served

    yield start
    for http, runner in cleanups:
        await http.close()
        await runner.cleanup()


class GatedSleep:
    def __init__(self) -> None:
        self.requested: list[float] = []
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.requested.append(seconds)
        self.entered.set()
        await self.release.wait()


def twilio_error(code: int, status: int, message: str) -> dict:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


# --- REST faults ----------------------------------------------------------------------------------------


async def test_next_n_429_with_retry_after_then_success(serve):
    served = await serve()
    rule = await served.add_rest(path="/v1/Workspaces/*/Workers/*", status=429, retry_after=3, count=2)
    assert rule["id"] and rule["status"] == 429 and rule["count"] == 2 and rule["remaining"] == 2

    for _ in range(2):
        async with served.http.get(WORKER) as resp:
            assert resp.status == 429
            assert resp.headers["Retry-After"] == "3"
            assert resp.headers["X-Emulator-Fault"] == rule["id"]
            assert await resp.json() == twilio_error(20429, 429, "Too Many Requests")
    async with served.http.get(WORKER) as resp:
        assert resp.status == 200 and await resp.json() == {"ok": True}

    assert served.hits == [("GET", WORKER)]
    listed = await served.faults()
    [state] = listed["rest"]
    assert (state["seen"], state["injected"], state["remaining"]) == (3, 2, 0)
    assert listed["requests_seen"] == 3


@pytest.mark.parametrize(
    "status, code, message", [(500, 20500, "Internal Server Error"), (503, 20503, "Service Unavailable")]
)
async def test_server_error_bodies(serve, status, code, message):
    served = await serve()
    await served.add_rest(path="/v1", status=status, count=1)
    async with served.http.post(WORKER, data={"ActivitySid": "WA1"}) as resp:
        assert resp.status == status
        assert "Retry-After" not in resp.headers
        assert await resp.json() == twilio_error(code, status, message)
    assert served.hits == []


async def test_fraction_follows_the_seed(serve):
    served = await serve()

    async def run(seed: int) -> list[int]:
        await served.add_rest(path="/v1/Workspaces", status=503, fraction=0.5, seed=seed)
        statuses = [await served.status_of("GET", WORKER) for _ in range(40)]
        async with served.http.delete("/admin/faults") as resp:
            assert resp.status == 204
        return statuses

    draws = random.Random(11)  # documented: one draw per matching request, a fault when < fraction
    expected = [503 if draws.random() < 0.5 else 200 for _ in range(40)]
    first = await run(11)
    assert first == expected and 0 < first.count(503) < 40
    assert await run(11) == first  # reproducible
    other = await run(12)
    assert other != first
    assert len(served.hits) == 2 * first.count(200) + other.count(200)  # faulted requests never reach it


async def test_count_caps_a_fraction(serve):
    served = await serve()
    rule = await served.add_rest(path="/v1", status=500, fraction=0.5, seed=3, count=3)
    statuses = [await served.status_of("GET", WORKER) for _ in range(30)]
    draws = random.Random(3)
    expected, left = [], 3
    for _ in range(30):
        hit = left > 0 and draws.random() < 0.5
        left -= hit
        expected.append(500 if hit else 200)
    assert statuses == expected and statuses.count(500) == 3
    [state] = (await served.faults())["rest"]
    assert state["id"] == rule["id"] and (state["seen"], state["injected"]) == (30, 3)


async def test_path_and_method_matching(serve):
    served = await serve()
    await served.add_rest(path="/v1/Workspaces/*/Workers/*", method="post", status=503)
    await served.add_rest(path="/v1/Workspaces/*/Activities", match="exact", status=429)
    checks = {
        ("GET", WORKER): 200,  # method differs
        ("POST", WORKER): 503,
        ("POST", WORKER + "/Statistics"): 503,  # prefix match covers sub-resources
        ("POST", "/v1/Workspaces/WS1/Workers"): 200,  # the list is one segment short
        ("POST", "/v1/Workspaces/WS1/WorkersX/WK1"): 200,  # segments match whole, not by prefix
        ("GET", "/v1/Workspaces/WS1/Activities"): 429,
        ("GET", "/v1/Workspaces/WS1/Activities/"): 429,
        ("GET", "/v1/Workspaces/WS1/Activities/WA1"): 200,  # exact
        ("GET", "/v1/Workspaces/WS1/TaskQueues"): 200,
    }
    observed = {key: await served.status_of(*key) for key in checks}
    assert observed == checks
    rules = (await served.faults())["rest"]
    assert [rule["method"] for rule in rules] == ["POST", None]
    assert [(rule["seen"], rule["injected"]) for rule in rules] == [(2, 2), (2, 2)]


async def test_double_star_spans_segments(serve):
    served = await serve()
    await served.add_rest(path="/v1/**/Statistics", match="exact", status=500)
    assert await served.status_of("GET", "/v1/Workspaces/WS1/Statistics") == 500
    assert await served.status_of("GET", WORKER + "/Statistics") == 500
    assert await served.status_of("GET", WORKER) == 200


async def test_rules_apply_in_order_and_all_count(serve):
    served = await serve()
    first = await served.add_rest(path="/v1", status=429, count=1)
    second = await served.add_rest(path="/v1", status=500)
    async with served.http.get(WORKER) as resp:
        assert resp.status == 429 and resp.headers["X-Emulator-Fault"] == first["id"]
    async with served.http.get(WORKER) as resp:
        assert resp.status == 500 and resp.headers["X-Emulator-Fault"] == second["id"]
    counts = {rule["id"]: (rule["seen"], rule["injected"]) for rule in (await served.faults())["rest"]}
    assert counts == {first["id"]: (2, 1), second["id"]: (2, 1)}


async def test_admin_paths_are_never_faulted(serve):
    served = await serve()
    await served.add_rest(path="/", status=500)
    assert await served.status_of("GET", WORKER) == 500
    assert await served.status_of("GET", "/admin/faults") == 200
    assert (await served.faults())["requests_seen"] == 1


async def test_latency_waits_before_the_handler(serve):
    gate = GatedSleep()
    served = await serve(FaultInjector(sleep=gate))
    await served.add_rest(path="/v1", latency_ms=150, count=1)
    pending = asyncio.create_task(served.status_of("GET", WORKER))
    await asyncio.wait_for(gate.entered.wait(), WAIT)
    assert gate.requested == [0.15] and served.hits == []
    gate.release.set()
    assert await asyncio.wait_for(pending, WAIT) == 200
    assert served.hits == [("GET", WORKER)]
    assert await served.status_of("GET", WORKER) == 200 and gate.requested == [0.15]  # count=1: once


async def test_latency_then_error(serve):
    gate = GatedSleep()
    served = await serve(FaultInjector(sleep=gate))
    await served.add_rest(path="/v1", latency_ms=40, status=503)
    pending = asyncio.create_task(served.status_of("DELETE", WORKER))
    await asyncio.wait_for(gate.entered.wait(), WAIT)
    gate.release.set()
    assert await asyncio.wait_for(pending, WAIT) == 503
    assert gate.requested == [0.04] and served.hits == []


async def test_real_latency_passes_through(serve):
    served = await serve()  # the default sleep: asyncio.sleep
    await served.add_rest(path="/v1", latency_ms=1)
    assert await served.status_of("GET", WORKER) == 200
    [state] = (await served.faults())["rest"]
    assert state["injected"] == 1 and served.hits == [("GET", WORKER)]


async def test_no_rules_no_faults(serve):
    served = await serve()
    assert [await served.status_of(method, WORKER) for method in ("GET", "POST", "DELETE")] == [200, 200, 200]
    assert len(served.hits) == 3 and (await served.faults())["requests_seen"] == 3


# --- admin API ------------------------------------------------------------------------------------------


async def test_rest_rule_lifecycle(serve):
    served = await serve()
    rule = await served.add_rest(path="/v1", status=500)
    assert rule == {
        "id": rule["id"],
        "path": "/v1",
        "match": "prefix",
        "method": None,
        "status": 500,
        "retry_after": 1,
        "latency_ms": 0,
        "count": None,
        "fraction": None,
        "seed": 0,
        "remaining": None,
        "seen": 0,
        "injected": 0,
    }
    assert await served.status_of("GET", WORKER) == 500
    async with served.http.delete(f"/admin/faults/rest/{rule['id']}") as resp:
        assert resp.status == 204
    async with served.http.delete(f"/admin/faults/rest/{rule['id']}") as resp:
        assert resp.status == 404
        assert (await resp.json())["code"] == 20404
    assert await served.status_of("GET", WORKER) == 200
    assert (await served.faults())["rest"] == []


async def test_clear_removes_everything(serve):
    served = await serve()
    await served.add_rest(path="/v1", status=500)
    async with served.http.post("/admin/faults/callbacks", json={"mode": "drop"}) as resp:
        assert resp.status == 201
    await served.status_of("GET", WORKER)
    async with served.http.delete("/admin/faults") as resp:
        assert resp.status == 204
    assert await served.faults() == {"rest": [], "callbacks": [], "requests_seen": 0}
    assert served.injector.callbacks.rules == []
    assert await served.status_of("GET", WORKER) == 200


async def test_callback_rule_lifecycle(serve):
    served = await serve()
    body = {"mode": "delay", "delay_ms": 250, "count": 2, "event_types": ["worker.created"]}
    async with served.http.post("/admin/faults/callbacks", json=body) as resp:
        assert resp.status == 201
        rule = await resp.json()
    assert rule == {
        "id": rule["id"],
        "mode": "delay",
        "delay_ms": 250,
        "hold_ms": 0,
        "event_types": ["worker.created"],
        "count": 2,
        "fraction": None,
        "seed": 0,
        "remaining": 2,
        "seen": 0,
        "injected": 0,
    }
    [held] = served.injector.callbacks.rules
    assert held.id == rule["id"]
    plan = served.injector.callbacks.plan("worker.created")
    assert plan.delay_ms == 250 and not plan.drop
    assert served.injector.callbacks.plan("worker.deleted").delay_ms == 0  # not a listed event type
    assert (await served.faults())["callbacks"][0]["injected"] == 1
    async with served.http.delete(f"/admin/faults/callbacks/{rule['id']}") as resp:
        assert resp.status == 204
    async with served.http.delete(f"/admin/faults/callbacks/{rule['id']}") as resp:
        assert resp.status == 404


async def test_callback_stats(serve):
    dispatcher = CallbackDispatcher("token", CallbackFaults())
    dispatcher.stats.delivered, dispatcher.stats.failed = 5, 2
    served = await serve(dispatcher=dispatcher)
    async with served.http.get("/admin/callbacks/stats") as resp:
        assert resp.status == 200
        stats = await resp.json()
    assert stats["delivered"] == 5 and stats["failed"] == 2
    assert {"dropped", "duplicated", "reordered", "delayed", "overflowed", "skipped", "pending"} <= set(stats)


async def test_callback_stats_without_a_dispatcher(serve):
    served = await serve()
    async with served.http.get("/admin/callbacks/stats") as resp:
        assert resp.status == 404 and (await resp.json())["code"] == 20404


REST = "/admin/faults/rest"
CALLBACKS = "/admin/faults/callbacks"


@pytest.mark.parametrize(
    "url, body, field_name",
    [
        (REST, {}, "path"),
        (REST, {"path": "v1/Workers", "status": 429}, "path"),
        (REST, {"path": "/v1/Work ers", "status": 429}, "path"),
        (REST, {"path": 7, "status": 429}, "path"),
        (REST, {"path": "/v1", "status": 404}, "status"),
        (REST, {"path": "/v1", "status": "429"}, "status"),
        (REST, {"path": "/v1"}, "status"),  # neither a status nor a latency: a rule that does nothing
        (REST, {"path": "/v1", "status": 429, "fraction": 1.5}, "fraction"),
        (REST, {"path": "/v1", "status": 429, "fraction": True}, "fraction"),
        (REST, {"path": "/v1", "status": 429, "count": 0}, "count"),
        (REST, {"path": "/v1", "status": 429, "count": 1.5}, "count"),
        (REST, {"path": "/v1", "status": 429, "method": "FETCH"}, "method"),
        (REST, {"path": "/v1", "latency_ms": -1}, "latency_ms"),
        (REST, {"path": "/v1", "latency_ms": 10**9}, "latency_ms"),
        (REST, {"path": "/v1", "status": 429, "retry_after": "1"}, "retry_after"),
        (REST, {"path": "/v1", "status": 429, "seed": "x"}, "seed"),
        (REST, {"path": "/v1", "status": 429, "match": "glob"}, "match"),
        (REST, {"path": "/v1", "status": 429, "fracton": 0.5}, "fracton"),
        (REST, [{"path": "/v1", "status": 429}], "body"),
        (REST, "{not json", "body"),
        (CALLBACKS, {}, "mode"),
        (CALLBACKS, {"mode": "explode"}, "mode"),
        (CALLBACKS, {"mode": "delay"}, "delay_ms"),
        (CALLBACKS, {"mode": "delay", "delay_ms": 0}, "delay_ms"),
        (CALLBACKS, {"mode": "drop", "delay_ms": 5}, "delay_ms"),
        (CALLBACKS, {"mode": "drop", "hold_ms": 5}, "hold_ms"),
        (CALLBACKS, {"mode": "drop", "event_types": "worker.created"}, "event_types"),
        (CALLBACKS, {"mode": "drop", "event_types": []}, "event_types"),
        (CALLBACKS, {"mode": "drop", "event_types": [""]}, "event_types"),
        (CALLBACKS, {"mode": "drop", "count": -1}, "count"),
        (CALLBACKS, {"mode": "drop", "fraction": -0.1}, "fraction"),
        (CALLBACKS, {"mode": "drop", "path": "/v1"}, "path"),
    ],
)
async def test_bad_admin_input_is_a_400_naming_the_field(serve, url, body, field_name):
    served = await serve()
    kwargs = (
        {"data": body, "headers": {"Content-Type": "application/json"}} if isinstance(body, str) else {"json": body}
    )
    async with served.http.post(url, **kwargs) as resp:
        assert resp.status == 400
        assert resp.content_type == "application/json"
        error = await resp.json()
    assert error["code"] == 20001 and error["status"] == 400
    assert error["more_info"] == "https://www.twilio.com/docs/errors/20001"
    assert f"Invalid {field_name}:" in error["message"]
    assert await served.faults() == {"rest": [], "callbacks": [], "requests_seen": 0}  # nothing half-made
