"""Helpers shared by the integration tests: the two-service manifest, ports, process checks."""

from __future__ import annotations

from pathlib import Path

import psutil

from conftest import Project, free_port
from realstack.supervisor import OWNER_VAR

SERVICES = ("postgres", "redis")
PASSWORD = "s3cret pass@:/%#?"  # needs URL quoting in DATABASE_URL
MANIFEST = f"""
[tool.realstack.services.postgres]
kind = "postgres"
port = "${{POSTGRES_PORT}}"
user = "app_user"
password = "{PASSWORD}"
database = "app_db"
durable = "${{DURABLE:-false}}"

[tool.realstack.services.redis]
kind = "redis"
port = "${{REDIS_PORT}}"
database = "2"
durable = "${{DURABLE:-false}}"
"""
MANIFEST_VARS = ("POSTGRES_PORT", "REDIS_PORT", "DURABLE")


def distinct_free_ports(count: int) -> list[int]:
    """``count`` different OS-assigned ports."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def write_manifest(project: Project, manifest: str = MANIFEST) -> Project:
    """Write ``manifest`` with both services on free ports (DURABLE left to its default)."""
    pg_port, redis_port = distinct_free_ports(2)
    return project.write(manifest, {"POSTGRES_PORT": str(pg_port), "REDIS_PORT": str(redis_port)})


def processes_owned_by(root: Path) -> list[psutil.Process]:
    """Live processes carrying the owner marker of the project at ``root``."""
    owned = []
    for proc in psutil.process_iter():
        try:
            marker = proc.environ().get(OWNER_VAR, "")
            if marker.startswith(str(root)) and proc.status() != psutil.STATUS_ZOMBIE:
                owned.append(proc)
        except psutil.Error:
            continue
    return owned


def still_running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie has ended; reaping it is its parent's job)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
