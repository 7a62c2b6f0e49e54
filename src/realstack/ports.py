"""Who answers on a port: the foreign-port rule's evidence (never acted upon, only reported)."""

from __future__ import annotations

import contextlib

import psutil

from realstack import probes
from realstack.process_scan import Marks, bears


def answers(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    return probes.tcp_check(host, port, 0.5)() is None


def _listeners(port: int) -> list[int | None]:
    """The pids listening on ``port`` (``None`` where psutil cannot see whose)."""
    with contextlib.suppress(psutil.Error):
        return [
            conn.pid
            for conn in psutil.net_connections(kind="tcp")
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port
        ]
    return []


def owner(port: int) -> str | None:
    """Who listens on ``port``, as 'pid N (cmdline)', where psutil can see it."""
    pid = next(iter(_listeners(port)), None)
    if pid is None:
        return None
    with contextlib.suppress(psutil.Error):
        cmd = " ".join(psutil.Process(pid).cmdline()).strip()
        return f"pid {pid} ({cmd})"
    return f"pid {pid}"


def occupant(host: str, port: int) -> str | None:
    """``None`` when the port is free; else its owner as far as visible ("" when unknown)."""
    if not answers(host, port):
        return None
    return owner(port) or ""


def held_by(port: int, marks: Marks) -> bool:
    """Whether the process listening on ``port`` bears ``marks``: one of ours, maybe an orphan
    whose record is lost (a start clears it, and the port is still this service's)."""
    for pid in _listeners(port):
        with contextlib.suppress(psutil.Error):
            if pid is not None and bears(psutil.Process(pid), marks):
                return True
    return False
