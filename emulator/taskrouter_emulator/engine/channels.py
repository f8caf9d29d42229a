"""TaskChannels, and WorkerChannels (a worker's capacity and availability on each channel)."""

from __future__ import annotations

from ..errors import bad_parameter, not_found
from ..model import TaskChannel, WorkerChannel
from ..sids import new_sid
from . import dispatch
from .event_data import task_channel_data, worker_channel_data
from .space import Space
from .transaction import Transaction


def add(tx: Transaction, space: Space, name: str, unique_name: str, optimized: bool | None, now: float) -> TaskChannel:
    ws = space.workspace
    channel = TaskChannel(new_sid("TC"), ws.account_sid, ws.sid, name, unique_name, optimized, now, now)
    space.routing.channels[channel.sid] = channel
    space.routing.channel_names[unique_name] = channel.sid
    tx.assign_seq(channel.sid)
    tx.save(channel)
    return channel


def create(tx: Transaction, space: Space, friendly_name: str, unique_name: str, optimized: bool | None) -> TaskChannel:
    if unique_name in space.routing.channel_names:
        raise bad_parameter(f"A TaskChannel with UniqueName {unique_name!r} already exists in {space.sid}")
    channel = add(tx, space, friendly_name, unique_name, optimized, tx.clock())
    tx.record(space, "task-channel.created", "taskchannel", channel.sid,
              f"TaskChannel {unique_name} created", task_channel_data(channel))
    return channel


def get(space: Space, sid: str) -> TaskChannel:
    rs = space.routing
    channel = rs.channels.get(sid) or rs.channels.get(rs.channel_names.get(sid, ""))
    if channel is None:
        raise not_found()
    return channel


def list_channels(space: Space) -> list[TaskChannel]:
    return list(space.routing.channels.values())


def update(tx: Transaction, space: Space, sid: str, friendly_name: str | None, optimized: bool | None) -> TaskChannel:
    channel = get(space, sid)
    if friendly_name is None and optimized is None:
        return channel
    if friendly_name is not None:
        channel.friendly_name = friendly_name
    if optimized is not None:
        channel.channel_optimized_routing = optimized
    channel.date_updated = tx.clock()
    tx.save(channel)
    tx.record(space, "task-channel.updated", "taskchannel", channel.sid,
              f"TaskChannel {channel.unique_name} updated", task_channel_data(channel))
    return channel


def delete(tx: Transaction, space: Space, sid: str) -> None:
    rs = space.routing
    channel = get(space, sid)
    if any(t.task_channel_sid == channel.sid and t.assignment_status not in ("canceled", "completed")
           for t in rs.tasks.values()):
        raise bad_parameter(f"TaskChannel {channel.sid} cannot be deleted while active Tasks use it")
    del rs.channels[channel.sid]
    del rs.channel_names[channel.unique_name]
    for key in [key for key in rs.worker_channels if key[1] == channel.sid]:
        tx.delete("workerchannel", rs.worker_channels.pop(key).sid)
    tx.delete("taskchannel", channel.sid)
    tx.record(space, "task-channel.deleted", "taskchannel", channel.sid,
              f"TaskChannel {channel.unique_name} deleted", task_channel_data(channel))


# ---- worker channels ------------------------------------------------------------------------------------


def list_worker_channels(tx: Transaction, space: Space, worker_sid: str) -> list[tuple[WorkerChannel, int]]:
    """Every channel of the worker with its current load; channels made on first sight are saved."""
    if worker_sid not in space.workers:
        raise not_found()
    rs = space.routing
    load = rs.load.get(worker_sid, {})
    return [(dispatch.worker_channel(tx, space, worker_sid, channel), load.get(channel.sid, 0))
            for channel in rs.channels.values()]


def get_worker_channel(tx: Transaction, space: Space, worker_sid: str, sid: str) -> tuple[WorkerChannel, int]:
    for wc, count in list_worker_channels(tx, space, worker_sid):
        if sid in (wc.sid, wc.task_channel_sid, wc.task_channel_unique_name):
            return wc, count
    raise not_found()


def update_worker_channel(tx: Transaction, space: Space, worker_sid: str, wc: WorkerChannel, count: int,
                          capacity: int | None, available: bool | None) -> tuple[WorkerChannel, int]:
    """`wc` and `count` come from get_worker_channel (in its own transaction: a channel seen is kept)."""
    if capacity is not None and capacity > 1 and wc.task_channel_unique_name == "voice":
        raise bad_parameter("Capacity of the voice TaskChannel must be 0 or 1")
    worker = space.workers[worker_sid]
    now = tx.clock()
    tx.save(wc)
    activity = space.activities[worker.activity_sid]
    if capacity is not None and capacity != wc.configured_capacity:
        previous = wc.configured_capacity
        wc.configured_capacity = capacity
        wc.date_updated = now
        tx.record(space, "worker.capacity.update", "worker", worker_sid,
                  f"Worker {worker.friendly_name}'s {wc.task_channel_unique_name} channel capacity updated",
                  worker_channel_data(worker, activity, wc, previous, count))
    if available is not None and available != wc.available:
        wc.available = available
        wc.date_updated = now
        tx.record(space, "worker.channel.availability.update", "worker", worker_sid,
                  f"Worker {worker.friendly_name}'s {wc.task_channel_unique_name} channel availability updated",
                  worker_channel_data(worker, activity, wc, wc.configured_capacity, count))
    dispatch.route(tx, space)
    return wc, count
