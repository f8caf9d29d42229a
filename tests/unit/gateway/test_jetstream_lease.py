"""The backfill lease on its own, over a scripted key-value bucket: taken, renewed, given back, waited for,
lost to another replica, and cancelled from outside.

The bucket answers as JetStream KV does (create only if absent, update and delete only at the holder's last
revision), and a test can hand the key to another owner or make the bucket fail on demand, which a real
server cannot be made to do at a chosen moment. test_event_log_jetstream.py runs leases on a real server."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import nats.errors
import nats.js.errors
import pytest

from taskrouter_gateway.eventlog.jetstream.lease import KvLeases, LeaseLost, LeaseUnavailable


class Bucket:
    def __init__(self) -> None:
        self.keys: dict[str, tuple[bytes, int]] = {}
        self.revision = 0
        self.create_errors: list[BaseException] = []  # raised by the next creates, in order
        self.update_error: BaseException | None = None
        self.delete_error: BaseException | None = None
        self.updates = 0
        self.updated = asyncio.Event()
        self.deleted: list[tuple[str, int]] = []

    def _store(self, key: str, value: bytes) -> int:
        self.revision += 1
        self.keys[key] = (value, self.revision)
        return self.revision

    def _at(self, key: str, last: int) -> None:
        if key not in self.keys or self.keys[key][1] != last:
            raise nats.js.errors.KeyWrongLastSequenceError(description="wrong last sequence")

    async def create(self, key: str, value: bytes) -> int:
        if self.create_errors:
            raise self.create_errors.pop(0)
        if key in self.keys:
            raise nats.js.errors.KeyWrongLastSequenceError(description="wrong last sequence")
        return self._store(key, value)

    async def update(self, key: str, value: bytes, last: int) -> int:
        self.updates += 1
        self.updated.set()
        if self.update_error is not None:
            raise self.update_error
        self._at(key, last)
        return self._store(key, value)

    async def delete(self, key: str, last: int) -> None:
        if self.delete_error is not None:
            raise self.delete_error
        self._at(key, last)
        self.deleted.append((key, last))
        del self.keys[key]

    def take_over(self, key: str) -> None:
        """Another replica holds the key now (this one's lease lapsed and it was created again)."""
        self._store(key, b"other:1")


@pytest.fixture
def bucket() -> Bucket:
    return Bucket()


def _leases(bucket: Bucket) -> KvLeases:
    async def key_value(name: str) -> Bucket:
        assert name == "leases"
        return bucket

    return KvLeases(SimpleNamespace(key_value=key_value), "leases", ttl_s=1.0, replicas=1)


async def _renewed(bucket: Bucket, times: int = 1) -> None:
    while bucket.updates < times:
        bucket.updated.clear()
        await asyncio.wait_for(bucket.updated.wait(), 10)


async def test_a_lease_is_held_while_its_body_runs_and_given_back_at_its_last_revision(bucket):
    leases = _leases(bucket)
    async with leases.hold("backfill"):
        value, taken_at = bucket.keys["backfill"]
        assert value == leases.owner.encode()
        await _renewed(bucket)  # renewed every ttl/3: the revision moves on
        assert bucket.keys["backfill"][1] > taken_at
        last = bucket.keys["backfill"][1]
    assert bucket.deleted == [("backfill", last)] and "backfill" not in bucket.keys


async def _holding(leases: KvLeases, *, then=lambda: None) -> asyncio.Task:
    """A task whose body holds the lease, runs `then`, and waits for ever; returned once the body runs."""
    started = asyncio.Event()

    async def work() -> None:
        async with leases.hold("backfill"):
            started.set()
            then()
            await asyncio.Event().wait()

    task = asyncio.create_task(work())
    await asyncio.wait_for(started.wait(), 10)
    return task


async def test_a_body_cancelled_from_outside_ends_cancelled_and_gives_the_lease_back(bucket):
    task = await _holding(_leases(bucket))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()  # not LeaseLost: the lease was never lost
    assert "backfill" not in bucket.keys


async def test_a_lease_taken_over_stops_its_body_with_lease_lost_and_is_not_given_back(bucket):
    # The body waits for ever: only the renewal that finds the lease gone stops it.
    task = await _holding(_leases(bucket), then=lambda: bucket.take_over("backfill"))
    done, _ = await asyncio.wait({task}, timeout=10)
    task.cancel()  # (only if it still runs: then the lease's loss did not stop it, and the test fails below)
    assert task in done
    with pytest.raises(LeaseLost, match="lease backfill was lost while its work ran"):
        task.result()
    assert bucket.keys["backfill"][0] == b"other:1" and bucket.deleted == []


async def test_a_lease_held_elsewhere_is_waited_for_and_then_refused(bucket):
    bucket.take_over("backfill")
    leases = _leases(bucket)
    with pytest.raises(LeaseUnavailable, match="lease backfill is held by another replica"):
        async with leases.hold("backfill", wait_s=0.05, poll_s=0.01):
            pytest.fail("the body ran without the lease")
    assert leases.contended >= 2  # it tried again before the wait ran out


async def test_a_lease_given_back_elsewhere_is_taken_by_the_one_waiting(bucket):
    bucket.take_over("backfill")
    leases = _leases(bucket)
    ran = False

    async def release_soon() -> None:
        while leases.contended == 0:
            await asyncio.sleep(0.01)
        del bucket.keys["backfill"]

    releaser = asyncio.create_task(release_soon())
    async with leases.hold("backfill", wait_s=10, poll_s=0.01):
        ran = True
        assert bucket.keys["backfill"][0] == leases.owner.encode()
    await releaser
    assert ran


@pytest.mark.parametrize("error", [nats.errors.TimeoutError(), nats.errors.NoRespondersError(),
                                   nats.js.errors.NoStreamResponseError(),
                                   nats.js.errors.ServiceUnavailableError(code=503)],
                         ids=["timeout", "no responders", "no stream response", "unavailable"])
async def test_a_bucket_that_does_not_answer_yet_is_asked_again(bucket, error):
    bucket.create_errors = [error, error]
    leases = _leases(bucket)
    async with leases.hold("backfill", wait_s=10, poll_s=0.01):
        assert "backfill" in bucket.keys
    with pytest.raises(LeaseUnavailable, match="the key-value store does not answer"):
        bucket.create_errors = [error] * 100
        async with leases.hold("backfill", wait_s=0.05, poll_s=0.01):
            pytest.fail("the body ran without the lease")


@pytest.mark.parametrize("error", [nats.errors.ConnectionClosedError(), TimeoutError()], ids=["closed", "timeout"])
async def test_a_lease_that_cannot_be_renewed_for_a_while_is_kept(bucket, error):
    leases = _leases(bucket)
    async with leases.hold("backfill"):
        bucket.update_error = error
        await _renewed(bucket, 2)  # a failed renewal, then another try
        bucket.update_error = None
        await _renewed(bucket, 3)
    assert "backfill" not in bucket.keys


@pytest.mark.parametrize("error", [nats.errors.ConnectionClosedError(), TimeoutError()], ids=["closed", "timeout"])
async def test_a_lease_that_cannot_be_given_back_is_left_to_lapse(bucket, error):
    leases = _leases(bucket)
    bucket.delete_error = error
    async with leases.hold("backfill"):
        pass
    assert "backfill" in bucket.keys  # the bucket's max age (the ttl) removes it
