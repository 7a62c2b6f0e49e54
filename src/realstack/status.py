"""Read-only inspection: which services run, who owns them, whether they answer."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from dataclasses import dataclass
from typing import Literal

import psutil

from realstack import pidfile, probes, supervisor
from realstack.model import Stack
from realstack.state import InstancePaths

State = Literal["ours", "orphan", "stale", "foreign", "down"]


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    kind: str
    provider: str
    port: int
    state: State = "down"
    pid: int | None = None
    uptime: float | None = None
    health: str = "-"  # "healthy", or why not
    owner: str | None = None  # for foreign listeners


def port_owner(port: int) -> str | None:
    """Who listens on ``port``, as 'pid N (cmdline)', where psutil can see it."""
    with contextlib.suppress(psutil.Error):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                if conn.pid is None:
                    return None
                with contextlib.suppress(psutil.Error):
                    cmd = " ".join(psutil.Process(conn.pid).cmdline())
                    return f"pid {conn.pid} ({cmd})"
                return f"pid {conn.pid}"
    return None


def status(stack: Stack, *, probe: bool = True) -> list[ServiceStatus]:
    """What runs, who owns it and whether it answers; never changes anything."""
    paths = InstancePaths(stack.state_dir)
    marked = supervisor.scan()
    rows = []
    for svc in stack.services:
        record = pidfile.read(paths.record(svc.name))
        proc = pidfile.process_of(record) if record else None
        orphans = marked.get(f"{paths.root}::{svc.name}", [])
        row = ServiceStatus(svc.name, svc.kind, record.provider if record else "native", svc.port)
        if proc is not None and record is not None:
            health = (probes.check_for(svc)() or "healthy") if probe else "-"
            uptime = time.time() - record.started_at
            row = dataclasses.replace(row, state="ours", pid=proc.pid, health=health, uptime=uptime)
        elif orphans:
            health = "record lost; `services.stop` cleans it up"
            row = dataclasses.replace(row, state="orphan", pid=orphans[0].pid, health=health)
        elif probes.tcp_check(svc.host, svc.port, 0.5)() is None:
            health = "answers, but realstack did not start it"
            row = dataclasses.replace(
                row, state="foreign", owner=port_owner(svc.port), health=health
            )
        elif record is not None:
            row = dataclasses.replace(row, state="stale")
        rows.append(row)
    return rows
