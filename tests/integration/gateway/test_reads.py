"""One read for many callers, over real gRPC against the emulator over HTTP: identical concurrent reads share
one upstream request (counted at the emulator), answers are served within the caller's max_staleness and
dropped by events, and polled queue statistics keep under the emulator's real 5 requests a second."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf import duration_pb2

from taskrouter.gateway.v1 import (
    event_service_pb2 as e,
    event_service_pb2_grpc,
    read_options_pb2,
    statistics_service_pb2 as s,
    statistics_service_pb2_grpc,
    worker_service_pb2 as w,
    worker_service_pb2_grpc,
)
from taskrouter_gateway.auth import hash_token

FIRST, SECOND = "first-reader-token", "second-reader-token"


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def staleness(seconds: float) -> read_options_pb2.ReadOptions:
    duration = duration_pb2.Duration()
    duration.FromNanoseconds(int(seconds * 1e9))
    return read_options_pb2.ReadOptions(max_staleness=duration)


def trailing(call_metadata) -> dict[str, str]:
    return {key: value for key, value in (call_metadata or ())}


@pytest.fixture
def ws(emulator) -> str:
    return emulator.config.default_workspace_sid


@pytest.fixture
def workers(channel) -> worker_service_pb2_grpc.WorkerServiceStub:
    return worker_service_pb2_grpc.WorkerServiceStub(channel)


@pytest.fixture
def clock(gateway) -> ManualClock:
    """The read cache's clock, moved by hand: an answer's age is then exact, with no waiting."""
    manual = ManualClock()
    gateway.reads.cache.clock = manual
    return manual


async def _update_at_emulator(emulator_http, ws: str, sid: str, **form: str) -> None:
    """A change made behind the gateway's back (another client, another replica's caller)."""
    async with emulator_http.post(f"/v1/Workspaces/{ws}/Workers/{sid}", data=form) as resp:
        assert resp.status == 200, await resp.text()


async def test_identical_concurrent_reads_share_one_upstream_request(gateway, workers, ws, emulator_admin):
    worker = await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="shared"))
    # The emulator holds the one request long enough for all hundred calls to arrive behind it.
    await emulator_admin.add_rest_fault(path=f"/v1/Workspaces/{ws}/Workers/{worker.sid}", match="exact",
                                        method="GET", latency_ms=1500)
    before = await emulator_admin.requests_seen()
    calls = [workers.GetWorker(w.GetWorkerRequest(workspace_sid=ws, sid=worker.sid)) for _ in range(100)]
    answers = await asyncio.gather(*calls)
    assert await emulator_admin.requests_seen() - before == 1
    assert {answer.sid for answer in answers} == {worker.sid}
    marks = [trailing(await call.trailing_metadata()).get("x-cache") for call in calls]
    assert marks.count("coalesced") == 99 and marks.count(None) == 1
    assert gateway.reads.cache.counters.coalesced == 99
    assert len(gateway.reads.inflight) == 0


async def test_a_shared_error_reaches_every_caller(workers, ws, emulator_admin):
    missing = "WK" + "0" * 32
    await emulator_admin.add_rest_fault(path=f"/v1/Workspaces/{ws}/Workers/{missing}", match="exact",
                                        method="GET", latency_ms=1000)
    before = await emulator_admin.requests_seen()
    results = await asyncio.gather(*(workers.GetWorker(w.GetWorkerRequest(workspace_sid=ws, sid=missing))
                                     for _ in range(20)), return_exceptions=True)
    assert await emulator_admin.requests_seen() - before == 1
    assert {r.code() for r in results} == {grpc.StatusCode.NOT_FOUND}


async def test_callers_with_different_workspace_lists_never_share(make_gateway, tmp_path, ws, emulator_admin):
    auth = tmp_path / "auth.toml"
    auth.write_text(f"""
[[caller]]
name = "everywhere"
token_sha256 = "{hash_token(FIRST)}"
scopes = ["read", "write"]
workspaces = ["*"]

[[caller]]
name = "one-workspace"
token_sha256 = "{hash_token(SECOND)}"
scopes = ["read", "write"]
workspaces = ["{ws}"]
""")
    gateway = await make_gateway(auth_file=str(auth))
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        stub = worker_service_pb2_grpc.WorkerServiceStub(channel)
        first = (("authorization", f"Bearer {FIRST}"),)
        second = (("authorization", f"Bearer {SECOND}"),)
        worker = await stub.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="apart"),
                                         metadata=first)
        await emulator_admin.add_rest_fault(path=f"/v1/Workspaces/{ws}/Workers/{worker.sid}", match="exact",
                                            method="GET", latency_ms=1000)
        before = await emulator_admin.requests_seen()
        request = w.GetWorkerRequest(workspace_sid=ws, sid=worker.sid, read_options=staleness(60))
        await asyncio.gather(*(stub.GetWorker(request, metadata=token) for token in (first, second) * 10))
        assert await emulator_admin.requests_seen() - before == 2  # one per partition, shared within each
        # And the cache keeps them apart too: each caller's cached answer is its own.
        await stub.GetWorker(request, metadata=first)
        await stub.GetWorker(request, metadata=second)
        assert await emulator_admin.requests_seen() - before == 2
        assert gateway.reads.cache.counters.hits == 2


async def test_writes_are_never_coalesced_or_cached(gateway, workers, ws, emulator_admin):
    worker = await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="written"))
    before = await emulator_admin.requests_seen()
    update = w.UpdateWorkerRequest(workspace_sid=ws, sid=worker.sid, attributes='{"same": true}')
    await asyncio.gather(*(workers.UpdateWorker(update) for _ in range(5)))
    assert await emulator_admin.requests_seen() - before == 5
    assert len(gateway.reads.cache) == 0


async def test_cached_answer_within_the_bound_then_upstream_after_it(gateway, workers, ws, clock, emulator_admin,
                                                                     emulator_http):
    worker = await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="before"))
    # Callbacks lost (the webhook unreachable from TaskRouter): no event will end the cached answer.
    async with emulator_http.post("/admin/faults/callbacks", json={"mode": "drop"}) as resp:
        assert resp.status == 201
    request = w.GetWorkerRequest(workspace_sid=ws, sid=worker.sid, read_options=staleness(10))
    assert (await workers.GetWorker(request)).friendly_name == "before"
    await _update_at_emulator(emulator_http, ws, worker.sid, FriendlyName="after")
    before = await emulator_admin.requests_seen()

    clock.now += 9.5
    call = workers.GetWorker(request)
    assert (await call).friendly_name == "before"  # 9.5 s old: within the 10 s the caller accepts
    assert trailing(await call.trailing_metadata())["x-cache-age-ms"] == "9500"
    assert await emulator_admin.requests_seen() == before

    clock.now += 0.6  # 10.1 s: past the bound, so to TaskRouter
    call = workers.GetWorker(request)
    assert (await call).friendly_name == "after"
    assert "x-cache-age-ms" not in trailing(await call.trailing_metadata())
    assert await emulator_admin.requests_seen() == before + 1

    # Zero staleness (and unset, the default for resources) always asks TaskRouter.
    for options in ({"read_options": staleness(0)}, {}):
        await workers.GetWorker(w.GetWorkerRequest(workspace_sid=ws, sid=worker.sid, **options))
    assert await emulator_admin.requests_seen() == before + 3


async def test_an_event_ends_the_cached_answer(gateway, channel, workers, ws, clock, emulator_http):
    async def emulator_events() -> int:
        async with emulator_http.get(f"/v1/Workspaces/{ws}/Events", params={"PageSize": 1000}) as resp:
            return len((await resp.json())["events"])

    before_wiring = await emulator_events()
    events = event_service_pb2_grpc.EventServiceStub(channel)
    await events.ConfigureEventCallback(e.ConfigureEventCallbackRequest(workspace_sid=ws))
    worker = await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="changing",
                                                              attributes='{"skill": "old"}'))
    other = await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="other"))
    so_far = await emulator_events() - before_wiring
    async with asyncio.timeout(10):  # every event so far applied, so none can end what is cached next
        await gateway.fanout.wait_until(lambda c: c.published >= so_far)
    request = w.GetWorkerRequest(workspace_sid=ws, sid=worker.sid, read_options=staleness(10))
    other_request = w.GetWorkerRequest(workspace_sid=ws, sid=other.sid, read_options=staleness(10))
    await workers.GetWorker(request)
    await workers.GetWorker(other_request)
    listed = w.ListWorkersRequest(workspace_sid=ws, read_options=staleness(10))
    await workers.ListWorkers(listed)
    assert len(gateway.reads.cache) == 3, (gateway.reads.cache.counters, gateway.fanout.counters)

    dropped = gateway.reads.cache.counters.invalidations
    await _update_at_emulator(emulator_http, ws, worker.sid, Attributes='{"skill": "new"}')  # worker.attributes.update
    async with asyncio.timeout(10):  # the fan-out tells the read front before it re-checks this
        await gateway.fanout.wait_until(lambda _: gateway.reads.cache.counters.invalidations > dropped)
    answer = workers.GetWorker(request)
    assert (await answer).attributes == '{"skill": "new"}'
    assert "x-cache-age-ms" not in trailing(await answer.trailing_metadata())
    # The other worker's answer stays; the workspace's worker lists went with the change.
    kept = workers.GetWorker(other_request)
    await kept
    assert "x-cache-age-ms" in trailing(await kept.trailing_metadata())
    listing = workers.ListWorkers(listed)
    assert worker.sid in {item.sid for item in (await listing).workers}
    assert "x-cache-age-ms" not in trailing(await listing.trailing_metadata())


async def test_a_write_through_the_gateway_is_read_back_at_once(gateway, workers, ws, clock):
    worker = await workers.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="v1"))
    request = w.GetWorkerRequest(workspace_sid=ws, sid=worker.sid, read_options=staleness(60))
    assert (await workers.GetWorker(request)).friendly_name == "v1"
    await workers.UpdateWorker(w.UpdateWorkerRequest(workspace_sid=ws, sid=worker.sid, friendly_name="v2"))
    assert (await workers.GetWorker(request)).friendly_name == "v2"


@pytest.mark.parametrize("seconds,nanos,expected", [
    (-1, 0, "must not be negative"),
    (3601, 0, "at most 3600 s"),
    (1, -5, "is not a valid Duration"),
    (0, 1_000_000_000, "is not a valid Duration"),
])
async def test_bad_max_staleness_is_invalid_argument_naming_the_field(workers, ws, seconds, nanos, expected):
    bad = read_options_pb2.ReadOptions(max_staleness=duration_pb2.Duration(seconds=seconds, nanos=nanos))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await workers.GetWorker(w.GetWorkerRequest(workspace_sid=ws, sid="WK" + "1" * 32, read_options=bad))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "read_options.max_staleness" in caught.value.details() and expected in caught.value.details()


async def test_fifty_callers_polling_fifty_queues_keep_under_the_bulk_limit(gateway, channel, ws, clock,
                                                                            emulator_http):
    queues = []
    for index in range(50):
        async with emulator_http.post(f"/v1/Workspaces/{ws}/TaskQueues", data={"FriendlyName": f"q{index}"}) as resp:
            assert resp.status == 201
            queues.append((await resp.json())["sid"])
    stats = statistics_service_pb2_grpc.StatisticsServiceStub(channel)
    batch = s.BatchGetTaskQueueRealTimeStatisticsRequest(workspace_sid=ws, task_queue_sids=queues)
    rounds = 7  # more than 5 a second unless paced: the rounds take a few real seconds at most
    for _ in range(rounds):
        answers = await asyncio.gather(*(stats.BatchGetTaskQueueRealTimeStatistics(batch) for _ in range(50)))
        for answer in answers:
            assert [item.task_queue_sid for item in answer.task_queue_data] == queues
            assert answer.task_queue_response_count == 50 and all(not item.url for item in answer.task_queue_data)
        # Single-queue polls in the same window are served from the bulk answer.
        singles = await asyncio.gather(*(stats.GetTaskQueueRealTimeStatistics(
            s.GetTaskQueueRealTimeStatisticsRequest(workspace_sid=ws, task_queue_sid=sid)) for sid in queues))
        assert [single.task_queue_sid for single in singles] == queues
        assert all(single.url.endswith(f"/TaskQueues/{single.task_queue_sid}/RealTimeStatistics") for single in singles)
        clock.now += 1.01  # the default staleness of real-time statistics is 1 s
    async with emulator_http.get("/admin/limits") as resp:
        limits = (await resp.json())["bulk_realtime_statistics"]
    assert limits["refused"] == 0
    assert limits["admitted"] == rounds == gateway.reads.queue_statistics.bulk_requests


async def test_a_bad_queue_in_one_callers_batch_does_not_fail_another(gateway, channel, ws, emulator_http):
    async with emulator_http.post(f"/v1/Workspaces/{ws}/TaskQueues", data={"FriendlyName": "real"}) as resp:
        real = (await resp.json())["sid"]
    stats = statistics_service_pb2_grpc.StatisticsServiceStub(channel)
    gone = "WQ" + "0" * 32
    good, bad = await asyncio.gather(
        stats.GetTaskQueueRealTimeStatistics(s.GetTaskQueueRealTimeStatisticsRequest(workspace_sid=ws,
                                                                                     task_queue_sid=real)),
        stats.GetTaskQueueRealTimeStatistics(s.GetTaskQueueRealTimeStatisticsRequest(workspace_sid=ws,
                                                                                     task_queue_sid=gone)),
        return_exceptions=True,
    )
    assert good.task_queue_sid == real
    assert isinstance(bad, grpc.aio.AioRpcError) and bad.code() in (grpc.StatusCode.NOT_FOUND,
                                                                     grpc.StatusCode.INVALID_ARGUMENT)


async def test_metrics_count_hits_misses_coalesced_invalidations_and_served_ages(make_gateway, ws, emulator_admin):
    import aiohttp
    from prometheus_client.parser import text_string_to_metric_families

    gateway = await make_gateway(admin_port=0, read_cache_entries=1)
    manual = ManualClock()
    gateway.reads.cache.clock = manual

    async def scrape() -> dict[str, float]:
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{gateway.admin_port}/metrics") as r:
            assert r.status == 200
            text = await r.text()
        return {sample.name + "".join(f"|{v}" for v in sample.labels.values()): sample.value
                for family in text_string_to_metric_families(text) for sample in family.samples
                if "read_" in sample.name}

    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        stub = worker_service_pb2_grpc.WorkerServiceStub(channel)
        first = await stub.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="metered-1"))
        second = await stub.CreateWorker(w.CreateWorkerRequest(workspace_sid=ws, friendly_name="metered-2"))
        before = await scrape()
        get = w.GetWorkerRequest(workspace_sid=ws, sid=first.sid, read_options=staleness(60))
        await stub.GetWorker(get)  # miss, kept
        manual.now += 2.0
        await stub.GetWorker(get)  # hit, 2 s old
        await stub.GetWorker(w.GetWorkerRequest(workspace_sid=ws, sid=second.sid, read_options=staleness(60)))
        await emulator_admin.add_rest_fault(path=f"/v1/Workspaces/{ws}/Workers/{first.sid}", match="exact",
                                            method="GET", latency_ms=500)
        await asyncio.gather(*(stub.GetWorker(w.GetWorkerRequest(workspace_sid=ws, sid=first.sid)) for _ in range(3)))
        await stub.UpdateWorker(w.UpdateWorkerRequest(workspace_sid=ws, sid=second.sid, attributes='{"x": 1}'))
        after = await scrape()

    def moved(name: str) -> float:
        return after[name] - before.get(name, 0.0)

    assert moved("taskrouter_gateway_read_cache_hits_total") == 1
    assert moved("taskrouter_gateway_read_cache_misses_total") == 5  # two first fetches, three uncached reads
    assert moved("taskrouter_gateway_read_coalesced_total") == 2
    # One entry allowed: the second worker pushed out the first, whose shared refetch then pushed out the second.
    assert moved("taskrouter_gateway_read_cache_evictions_total") == 2
    assert moved("taskrouter_gateway_read_cache_invalidations_total") == 1  # the write dropped what was left
    assert moved("taskrouter_gateway_read_cache_served_age_seconds_count") == 1
    assert moved("taskrouter_gateway_read_cache_served_age_seconds_sum") == pytest.approx(2.0)
    assert moved("taskrouter_gateway_read_cache_served_age_seconds_bucket|2.5") == 1
    assert moved("taskrouter_gateway_read_cache_served_age_seconds_bucket|1.0") == 0
    assert after["taskrouter_gateway_read_cache_entries"] == 0 and after["taskrouter_gateway_read_cache_bytes"] == 0
