"""Spawn services in their own session and stop them with the TERM → wait → KILL ladder.

Each spawned process bears its service's :class:`~realstack.process_scan.Marks`: the
``REALSTACK_OWNER`` variable its descendants inherit, and the log file as its std streams.
``stop`` signals the process group, every descendant it can see and every marked process (the
scan of :mod:`realstack.process_scan`), so a grandchild that left the group, or a server whose
starter was SIGKILLed before it could write a record, is not left behind.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import pwd
import signal
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from realstack import started
from realstack.errors import StopFailed
from realstack.process_scan import OWNER_VAR, Marks, owned
from realstack.records import ProcessRecord
from realstack.waiting import WaitTimeout, wait_until

__all__ = [
    "OWNER_VAR",
    "LaunchSpec",
    "Marks",
    "as_user",
    "exit_code",
    "forget",
    "has_exited",
    "process_of",
    "spawn",
    "stop",
]

# Popen objects of the services this process spawned: kept so their exit can be reaped (no
# zombies while a long-lived caller such as pytest runs) and the exit code read at once.
_children: dict[int, subprocess.Popen[bytes]] = {}
_born: dict[int, tuple[float, int | None]] = {}  # when they started: a reused pid is not ours


@atexit.register
def _detach_running_children() -> None:
    """Services outlive the process that started them by design: not a leaked subprocess.

    Without this, each still-running Popen warns "subprocess N is still running" when the
    interpreter finalises it (an error under pytest's ``-W error``).
    """
    for popen in _children.values():
        if popen.poll() is None:
            popen._child_created = False  # type: ignore[attr-defined]  # we no longer wait on it
    _children.clear()


@dataclass(frozen=True)
class LaunchSpec:
    """Everything needed to exec a service; built by a provider."""

    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: Path | None = None
    user: str | None = None  # run as this user (PostgreSQL refuses root)


def process_of(record: ProcessRecord) -> psutil.Process | None:
    """The live process with the record's pid that started when the record says (``None``: the
    pid moved on): what a recorded pid is worth, to a provider's ``find`` and to the machine's
    registry."""
    try:
        proc = psutil.Process(record.pid)
        if not started.same_start(proc, record.create_time, record.start_ticks, record.boot_id):
            return None  # pid reused by another process: never touch it
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
    except psutil.Error:
        return None
    return proc


@functools.cache
def account(user: str) -> tuple[int, int, tuple[int, ...]]:
    """``user``'s uid, gid and supplementary groups, read once per process: each read of the
    group database costs ~0.2 ms, and a cold start of PostgreSQL as root asked four times
    (preflight, two reachability checks, the spawn). KeyError: no such user."""
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid, tuple(os.getgrouplist(user, entry.pw_gid))


def as_user(user: str | None) -> dict[str, Any]:
    """Popen arguments that drop to ``user`` completely: uid, gid and supplementary groups."""
    if user is None:
        return {}
    uid, gid, groups = account(user)
    return {"user": uid, "group": gid, "extra_groups": list(groups)}


def spawn(spec: LaunchSpec, marks: Marks) -> psutil.Process:
    """Start ``spec`` in a new session bearing ``marks``: output appended to its log."""
    env = {**spec.env, OWNER_VAR: marks.marker}
    with marks.log.open("ab") as log:
        popen = subprocess.Popen(
            spec.argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=spec.cwd,
            env=env,
            **as_user(spec.user),
            start_new_session=True,
            close_fds=True,
        )
    _children[popen.pid] = popen
    proc = psutil.Process(popen.pid)
    _born[popen.pid] = (proc.create_time(), started.ticks(popen.pid))
    return proc


def exit_code(proc: psutil.Process) -> int | None:
    """The exit code if ``proc`` has ended (``None`` while it runs or if unknown)."""
    popen = _child(proc)
    if popen is not None:
        return popen.poll()
    return None


def _gone(proc: psutil.Process) -> bool:
    """Ended, for a process we did not spawn: gone, or a zombie with no live threads left.

    A multi-threaded server whose main thread exited first already shows as a zombie while
    its other threads still run (and may still hold the port).
    """
    try:
        return proc.status() == psutil.STATUS_ZOMBIE and proc.num_threads() <= 1
    except psutil.Error:
        return True


def _child(proc: psutil.Process) -> subprocess.Popen[bytes] | None:
    """Our Popen of ``proc``, if ``proc`` is that very child (not a later owner of its pid)."""
    popen = _children.get(proc.pid)
    if popen is None:
        return None
    try:
        create_time, start_ticks = _born.get(proc.pid, (0.0, None))
        same = started.same_start(proc, create_time, start_ticks, started.boot_id())
    except psutil.Error:
        same = True  # gone: the Popen knows how it ended
    return popen if same else None


def has_exited(proc: psutil.Process) -> bool:
    popen = _child(proc)
    if popen is not None:
        return popen.poll() is not None  # only waitpid says a child of ours is really done
    return _gone(proc)


def _alive(procs: Iterable[psutil.Process]) -> list[psutil.Process]:
    return [proc for proc in procs if not has_exited(proc)]


def _family(
    leader: psutil.Process | None, marked: Iterable[psutil.Process]
) -> list[psutil.Process]:
    family: dict[int, psutil.Process] = {p.pid: p for p in marked}
    if leader is not None:
        with contextlib.suppress(psutil.NoSuchProcess):
            family[leader.pid] = leader
            for child in leader.children(recursive=True):
                family.setdefault(child.pid, child)
    return list(family.values())


def _signal_all(
    leader: psutil.Process | None, procs: Iterable[psutil.Process], sig: signal.Signals
) -> None:
    if leader is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(leader.pid, sig)  # the leader's session/group, stragglers included
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(sig)


def stop(
    leader: psutil.Process | None,
    marks: Marks,
    marked: Iterable[psutil.Process] = (),
    *,
    stop_signal: signal.Signals = signal.SIGTERM,
    timeout: float = 5.0,
) -> bool:
    """Stop ``leader`` (verified ours by the caller), its group, descendants and ``marked``.

    ``marked`` are the processes bearing ``marks`` (from :func:`owned`). Returns ``True`` if
    the ladder had to escalate to SIGKILL; raises :class:`StopFailed` if anything survives it.
    """
    family = _family(leader, marked)
    if not family:
        return False
    _signal_all(leader, family, stop_signal)
    try:
        wait_until(lambda: None if not _alive(family) else "still running", timeout)
        return False
    except WaitTimeout:
        pass
    # Escalate: everything still alive, plus anything marked that appeared since we looked.
    family = _alive([*family, *owned(marks)])
    _signal_all(leader, family, signal.SIGKILL)
    try:
        wait_until(lambda: None if not _alive(family) else "still running", 5.0)
    except WaitTimeout:
        pids = tuple(p.pid for p in _alive(family))
        raise StopFailed(
            f"processes {', '.join(map(str, pids))} survived SIGKILL (uninterruptible?)",
            provider="native",
            service=marks.marker.rpartition("::")[2],
            pids=pids,
        ) from None
    return True


def forget(pid: int) -> None:
    """Drop the Popen of ``pid`` once it has been reaped (kept until then, so it gets reaped)."""
    popen = _children.get(pid)
    if popen is not None and popen.poll() is not None:
        del _children[pid]
        _born.pop(pid, None)
