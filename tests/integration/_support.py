"""Helpers shared by the integration tests: the two-service manifest, ports, process checks."""

from __future__ import annotations

from pathlib import Path

import psutil

from conftest import Project, free_port, owned_by

SERVICES = ("postgres", "redis")
USER = "app_user"
PASSWORD = "s3cret pass@:/%#?"  # needs URL quoting in DATABASE_URL
DATABASE = "app_db"
# The credentials come from the env file, like the ports: the docker provider's compose file
# (docker-compose.test.yml) reads the same variables, so container and manifest agree.
CREDENTIALS = {"POSTGRES_USER": USER, "POSTGRES_PASSWORD": PASSWORD, "POSTGRES_DB": DATABASE}
MANIFEST = """
[tool.realstack.services.postgres]
kind = "postgres"
port = "${POSTGRES_PORT}"
user = "${POSTGRES_USER}"
password = "${POSTGRES_PASSWORD}"
database = "${POSTGRES_DB}"
durable = "${DURABLE:-false}"

[tool.realstack.services.redis]
kind = "redis"
port = "${REDIS_PORT}"
database = "2"
durable = "${DURABLE:-false}"
"""
# For modules that test details of native binaries: native whatever REALSTACK_PROVIDER says.
NATIVE_MANIFEST = 'provider = "native"\n' + MANIFEST
MANIFEST_VARS = ("POSTGRES_PORT", "REDIS_PORT", *CREDENTIALS, "DURABLE")


def distinct_free_ports(count: int) -> list[int]:
    """``count`` different OS-assigned ports."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def free_ports_for(*names: str) -> dict[str, str]:
    """``NAME -> port`` for each of ``names``, all different: two ``free_port()`` calls can be
    given the same port (the OS hands out one just let go of), which failed ci36."""
    return {
        name: str(port) for name, port in zip(names, distinct_free_ports(len(names)), strict=True)
    }


def write_manifest(project: Project, manifest: str = MANIFEST, *more_ports: str) -> Project:
    """Write ``manifest`` with the credentials, and POSTGRES_PORT, REDIS_PORT and each of
    ``more_ports`` on distinct free ports (DURABLE left to its default)."""
    names = ("POSTGRES_PORT", "REDIS_PORT", *more_ports)
    ports = {
        name: str(port) for name, port in zip(names, distinct_free_ports(len(names)), strict=True)
    }
    return project.write(manifest, {**CREDENTIALS, **ports})


def processes_owned_by(root: Path) -> list[psutil.Process]:
    """Live processes of the project at ``root`` (see :func:`conftest.owned_by`)."""
    return owned_by(root)


def containers_of(project: Project) -> list[str]:
    """The containers (running or not) of ``project``'s compose project; none when native."""
    return project.containers() if project.provider == "docker" else []


def server_log(project: Project, service: str) -> str:
    """All ``service``'s server has logged: realstack's log file of the native process, or
    under docker the container's own log (stdout and stderr), read through the engine."""
    if project.provider == "docker":
        return project.container_log(service)
    return (project.state / "logs" / f"{service}.log").read_text()


def still_running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie has ended; reaping it is its parent's job)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
