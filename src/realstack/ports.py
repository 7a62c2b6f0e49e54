"""Who answers on a port: the foreign-port rule's evidence (never acted upon, only reported)."""

from __future__ import annotations

import contextlib

import psutil

from realstack import probes


def answers(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    return probes.tcp_check(host, port, 0.5)() is None


def owner(port: int) -> str | None:
    """Who listens on ``port``, as 'pid N (cmdline)', where psutil can see it."""
    with contextlib.suppress(psutil.Error):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                if conn.pid is None:
                    return None
                with contextlib.suppress(psutil.Error):
                    cmd = " ".join(psutil.Process(conn.pid).cmdline()).strip()
                    return f"pid {conn.pid} ({cmd})"
                return f"pid {conn.pid}"
    return None


def occupant(host: str, port: int) -> str | None:
    """``None`` when the port is free; else its owner as far as visible ("" when unknown)."""
    if not answers(host, port):
        return None
    return owner(port) or ""
