"""When a process started, in terms no clock step moves: what a recorded pid is checked by.

psutil's ``create_time()`` is the process's start in clock ticks since boot *plus* the boot
time, and Linux derives the boot time from the wall clock at every read (``/proc/stat``
``btime``). An NTP step, a resumed VM or laptop moves it, so a process recorded before the step
no longer matches its record in a later process (psutil #2526): a start took the stack's own
PostgreSQL for an unrecorded orphan and restarted it under a running test suite. The ticks
since boot, with the id of the boot they count from, do not move. Where the kernel offers
neither (not Linux), the wall-clock create time is all there is.
"""

from __future__ import annotations

import functools
from pathlib import Path

import psutil

_CREATE_TIME_TOLERANCE = 0.01  # psutil reports create_time rounded to clock ticks


@functools.cache
def boot_id() -> str | None:
    """This boot's id (Linux), read once: ticks since boot name a moment of one boot only."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def ticks(pid: int) -> int | None:
    """``pid``'s start in clock ticks since boot (``/proc/<pid>/stat``, field 22), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:  # noqa: PTH123 - on every recorded pid
            data = stat.read()
        return int(data[data.rindex(b")") + 2 :].split()[19])  # after "pid (comm) "
    except (OSError, ValueError, IndexError):
        return None


def same_start(
    proc: psutil.Process, create_time: float, start_ticks: int | None, boot: str | None
) -> bool:
    """Whether ``proc`` started when a record says: by ticks since boot when the record has
    them for this boot, else by the wall-clock create time. Raises psutil.Error if gone."""
    if start_ticks is not None and boot is not None and boot_id() is not None:
        now = ticks(proc.pid)
        if now is None:
            raise psutil.NoSuchProcess(proc.pid)
        return boot == boot_id() and now == start_ticks
    return abs(proc.create_time() - create_time) <= _CREATE_TIME_TOLERANCE
