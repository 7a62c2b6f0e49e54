"""Read-only inspection: which services run, who owns them, whether they answer."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Literal

import psutil

from realstack import pidfile, probes, supervisor
from realstack.errors import RealstackError
from realstack.model import Stack
from realstack.providers import docker as docker_provider
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


def running_services(stack: Stack) -> set[str]:
    """The services with an ours-record: what the env contract must describe."""
    paths = InstancePaths(stack.state_dir)
    return {
        svc.name
        for svc in stack.services
        if (record := pidfile.read(paths.record(svc.name))) and pidfile.process_of(record)
    }


def status(stack: Stack, *, probe: bool = True) -> list[ServiceStatus]:
    """What runs, who owns it and whether it answers; never changes anything."""
    paths = InstancePaths(stack.state_dir)
    marked = supervisor.scan()
    containers = _docker_containers(stack)
    rows = []
    for svc in stack.services:
        record = pidfile.read(paths.record(svc.name))
        proc = pidfile.process_of(record) if record else None
        orphans = marked.get(paths.marker(svc.name), [])
        row = ServiceStatus(
            svc.name, svc.kind, record.provider if record else svc.provider, svc.port
        )
        container = containers.get(svc.compose_name, {}).get("State", {})
        if proc is not None and record is not None:
            health = (probes.check_for(svc)() or "healthy") if probe else "-"
            uptime = time.time() - record.started_at
            row = dataclasses.replace(row, state="ours", pid=proc.pid, health=health, uptime=uptime)
        elif container.get("Running"):
            health = "container without a record; `services.stop` removes it"
            row = dataclasses.replace(
                row, state="orphan", provider="docker", pid=container.get("Pid"), health=health
            )
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
        elif not stack.enabled(svc):
            row = dataclasses.replace(row, health=f"profile {','.join(svc.profiles)} not enabled")
        rows.append(row)
    return rows


def _docker_containers(stack: Stack) -> dict[str, dict[str, Any]]:
    """The project's containers, when a service may run in docker and the engine answers."""
    if not any(s.may_use_docker for s in stack.services):
        return {}
    if not docker_provider.engine_available():
        return {}
    with contextlib.suppress(RealstackError):
        return docker_provider.containers(stack)
    return {}
