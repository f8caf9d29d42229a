"""SIGKILL a process mid-burst of appends: every acknowledged event survives, once, and seqs stay gap-free."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from taskrouter_gateway.eventlog.sqlite.log import SqliteEventLog

# The child appends from 20 concurrent tasks forever (every 5th append re-sends its previous sid as well),
# printing "ack <sid> <seq>" once append() has returned, i.e. once the log says the event is durable.
CHILD = r"""
import asyncio, sys
from taskrouter_gateway.eventlog.log import NewEvent
from taskrouter_gateway.eventlog.sqlite.log import SqliteEventLog

def event(sid):
    return NewEvent(sid=sid, workspace_sid="WS" + "1" * 32, event_type="task.created",
                    resource_sid="WT" + "2" * 32, event_date_ms=1_760_000_000_000, payload=sid.encode() * 20)

async def appender(log, run, k):
    i = 0
    while True:
        sid = f"EV{run}{k:03d}{i:028d}"
        batch = [event(sid)]
        if i % 5 == 4:
            batch.append(event(f"EV{run}{k:03d}{i - 1:028d}"))
        results = await log.append(batch)
        sys.stdout.write(f"ack {sid} {results[0].seq}\n")
        sys.stdout.flush()
        i += 1

async def main(path, run):
    log = SqliteEventLog(path, synchronous="FULL")
    await log.open()
    sys.stdout.write(f"open {log.log_id}\n")
    sys.stdout.flush()
    await asyncio.gather(*(appender(log, run, k) for k in range(20)))

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""

ACKS_BEFORE_KILL = 400
LINE_TIMEOUT = 30.0


async def _run_and_kill(path: Path, run: str) -> tuple[str, dict[str, int]]:
    """Starts the child, waits for ACKS_BEFORE_KILL acknowledgements, SIGKILLs it; returns (log_id, acks)."""
    # A plain Popen read from a worker thread: asyncio's child watcher can lose a SIGKILLed child's exit
    # status to Popen.poll() in the transport (reported as returncode 255), which would make this flaky.
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), run], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    acks: dict[str, int] = {}
    log_id = ""
    try:
        while len(acks) < ACKS_BEFORE_KILL:
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), LINE_TIMEOUT)
            if not line:
                raise AssertionError(f"child exited early: {proc.stderr.read().decode(errors='replace')}")
            _parse(line.decode(), acks)
            if line.startswith(b"open "):
                log_id = line.split()[1].decode()
        os.kill(proc.pid, signal.SIGKILL)
        # Lines the child completed before it died are acknowledgements too.
        rest = await asyncio.wait_for(asyncio.to_thread(proc.stdout.read), LINE_TIMEOUT)
        for text in rest.decode().splitlines(keepends=True):
            if text.endswith("\n"):
                _parse(text, acks)
    finally:
        if proc.poll() is None:
            proc.kill()  # also unblocks a reader thread left behind by a timeout
        await asyncio.to_thread(proc.wait)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return log_id, acks


def _parse(line: str, acks: dict[str, int]) -> None:
    parts = line.split()
    if len(parts) == 3 and parts[0] == "ack":
        assert parts[1] not in acks, f"{parts[1]} acknowledged twice as new"
        acks[parts[1]] = int(parts[2])


async def _check_log(path: Path, log_id: str, acks: dict[str, int]) -> int:
    log = SqliteEventLog(path)
    await log.open()
    try:
        assert log.log_id == log_id
        stored = await log.read_after(0, limit=1_000_000)
        seqs = [e.seq for e in stored]
        assert seqs == list(range(1, len(seqs) + 1)), "seqs are not gap-free from 1"
        assert await log.last_seq() == len(seqs)
        by_sid: dict[str, int] = {}
        for e in stored:
            assert e.sid not in by_sid, f"{e.sid} stored twice"
            by_sid[e.sid] = e.seq
            assert e.payload == e.sid.encode() * 20
        lost = [sid for sid, seq in acks.items() if by_sid.get(sid) != seq]
        assert not lost, f"{len(lost)} acknowledged events missing or renumbered, e.g. {lost[:3]}"
        return len(seqs)
    finally:
        await log.close()


async def test_acknowledged_appends_survive_sigkill_and_numbering_continues(tmp_path: Path) -> None:
    path = tmp_path / "events.db"

    log_id, first_acks = await _run_and_kill(path, "1")
    assert len(first_acks) >= ACKS_BEFORE_KILL
    held = await _check_log(path, log_id, first_acks)
    assert held >= len(first_acks)

    # A second life on the same file: same log_id, numbering carries on, and a second crash loses nothing.
    second_id, second_acks = await _run_and_kill(path, "2")
    assert second_id == log_id
    assert min(second_acks.values()) == held + 1
    total = await _check_log(path, log_id, first_acks | second_acks)
    assert total >= held + len(second_acks)
