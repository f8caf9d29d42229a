"""A replica that starts with its brokers waits out "no suitable peers" and nothing else."""

from __future__ import annotations

import asyncio

import nats.js.errors
import pytest

from taskrouter_gateway.eventlog.jetstream.kv import open_bucket
from taskrouter_gateway.eventlog.jetstream.settle import cluster_forming, once_formed


def _api_error(err_code: int, code: int = 500) -> nats.js.errors.APIError:
    return nats.js.errors.APIError(code=code, err_code=err_code, description=f"error {err_code}")


class Flaky:
    def __init__(self, errors: list[BaseException]) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "info"



def record_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """asyncio.sleep replaced by one that records each pause asked for and only yields: retry pauses are read
    off instead of waited out."""
    pauses: list[float] = []
    real_sleep = asyncio.sleep

    async def recording_sleep(seconds: float) -> None:
        pauses.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", recording_sleep)
    return pauses

async def test_forming_errors_are_tried_again_until_the_cluster_answers():
    op = Flaky([_api_error(10005), _api_error(10008, code=503), _api_error(10005)])
    assert await once_formed(op, within_s=5, pause_s=0.001) == "info"
    assert op.calls == 4


@pytest.mark.parametrize("error", [_api_error(10058, code=400), _api_error(10023), nats.js.errors.NotFoundError()])
async def test_any_other_answer_is_raised_at_once(error):
    op = Flaky([error])
    with pytest.raises(type(error)):
        await once_formed(op, within_s=5, pause_s=0.001)
    assert op.calls == 1


async def test_a_cluster_that_never_forms_gives_its_last_error_after_the_wait():
    op = Flaky([_api_error(10005)] * 1_000_000)
    with pytest.raises(nats.js.errors.APIError) as raised:
        await once_formed(op, within_s=0.05, pause_s=0.01)
    assert raised.value.err_code == 10005
    assert 2 <= op.calls < 1_000_000


async def test_no_wait_means_one_try():
    op = Flaky([_api_error(10005)])
    with pytest.raises(nats.js.errors.APIError):
        await once_formed(op, within_s=0, pause_s=0.01)
    assert op.calls == 1


def test_only_the_forming_codes_count():
    assert cluster_forming(_api_error(10005)) and cluster_forming(_api_error(10008))
    assert not cluster_forming(_api_error(10004)) and not cluster_forming(ValueError("10005"))


class Broker:
    """A JetStream context whose key_value and create_key_value answer from scripted lists, then succeed."""

    def __init__(self, lookups: list[BaseException], creates: list[BaseException]) -> None:
        self.lookups, self.creates = list(lookups), list(creates)
        self.calls: list[str] = []

    async def key_value(self, bucket: str) -> str:
        self.calls.append("lookup")
        if self.lookups:
            raise self.lookups.pop(0)
        return f"kv:{bucket}"

    async def create_key_value(self, config) -> str:
        self.calls.append("create")
        if self.creates:
            raise self.creates.pop(0)
        return f"created:{config.bucket}"


async def test_a_bucket_another_replica_is_creating_is_waited_for_until_this_server_shows_it():
    not_found = nats.js.errors.BucketNotFoundError
    in_use = nats.js.errors.BadRequestError(code=400, err_code=10058, description="stream name already in use")
    broker = Broker([not_found(), not_found(), not_found()], [in_use, in_use])
    assert await open_bucket(broker, "marks", replicas=3, within_s=5, pause_s=0.001) == "kv:marks"
    assert broker.calls == ["lookup", "create", "lookup", "lookup", "create", "lookup"]


async def test_a_bucket_is_created_once_the_cluster_has_formed():
    broker = Broker([nats.js.errors.BucketNotFoundError()] * 3, [_api_error(10005), _api_error(10008, code=503)])
    assert await open_bucket(broker, "lease", replicas=3, within_s=5, pause_s=0.001) == "created:lease"
    assert broker.calls == ["lookup", "create", "lookup", "create", "lookup", "create"]


async def test_a_real_refusal_to_create_is_raised_at_once():
    refused = nats.js.errors.BadRequestError(code=400, err_code=10023, description="insufficient resources")
    broker = Broker([nats.js.errors.BucketNotFoundError()] * 5, [refused] * 5)
    with pytest.raises(nats.js.errors.BadRequestError) as raised:
        await open_bucket(broker, "marks", replicas=3, within_s=5, pause_s=0.001)
    assert raised.value.err_code == 10023 and broker.calls == ["lookup", "create"]


async def test_retries_pause_between_tries_and_the_default_pause_is_short(monkeypatch):
    # A negative or zero pause would hammer a forming cluster; a long one would slow every start beside it.
    pauses = record_sleeps(monkeypatch)
    op = Flaky([_api_error(10005), _api_error(10005)])
    assert await once_formed(op, within_s=30) == "info"
    broker = Broker([nats.js.errors.BucketNotFoundError()] * 2, [_api_error(10005)])
    assert await open_bucket(broker, "marks", replicas=1) == "created:marks"
    assert len(pauses) == 3 and all(0 < pause <= 0.5 for pause in pauses), pauses


async def test_a_bucket_keeps_one_value_per_key_on_file_with_the_ttl_asked_for():
    configs = []

    class Recording(Broker):
        async def create_key_value(self, config) -> str:
            configs.append(config)
            return await super().create_key_value(config)

    await open_bucket(Recording([nats.js.errors.BucketNotFoundError()], []), "lease", replicas=3, ttl_s=12.5)
    await open_bucket(Recording([nats.js.errors.BucketNotFoundError()], []), "marks", replicas=1)
    lease, marks = configs
    assert (lease.bucket, lease.history, lease.replicas, lease.ttl) == ("lease", 1, 3, 12.5)
    assert (marks.bucket, marks.history, marks.replicas, marks.ttl) == ("marks", 1, 1, None)
    assert lease.storage == marks.storage == nats.js.api.StorageType.FILE
