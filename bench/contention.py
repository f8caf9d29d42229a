"""How much CPU the rest of the machine used during the run: the figures assume it used none.

The machine is shared (CI, other sessions); pinning keeps our own processes apart but cannot keep theirs
off the cores. Foreign CPU = the kernel's busy time over all cores (/proc/stat) minus what this run's own
processes used: this process, its live descendants (psutil) and its children already reaped (os.times).
"""

from __future__ import annotations

import os

import psutil


def _busy_seconds() -> float:
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def _own_seconds() -> float:
    me = os.times()
    live = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        live += times.user + times.system
    return me.user + me.system + me.children_user + me.children_system + live


class ForeignCpu:
    """`ForeignCpu()` at the start, `.seconds()` at the end: CPU seconds spent outside this run;
    `.steal_seconds()`: CPU time the hypervisor gave to other guests (a VM's cores are shared too)."""

    def __init__(self) -> None:
        self._busy = _busy_seconds()
        self._own = _own_seconds()
        self._steal = float(getattr(psutil.cpu_times(), "steal", 0.0))

    def seconds(self) -> float:
        """Call it while the run's processes are still alive (or reaped): a child that exited unreaped counts
        as foreign."""
        return max(0.0, (_busy_seconds() - self._busy) - (_own_seconds() - self._own))

    def steal_seconds(self) -> float:
        return float(getattr(psutil.cpu_times(), "steal", 0.0)) - self._steal
