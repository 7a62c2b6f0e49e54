"""How the native provider execs each kind: PostgreSQL and Redis from local binaries (prepared
data dirs), app processes from the manifest's command."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Mapping
from pathlib import Path

from realstack import identity, pgcluster, pgstorage
from realstack.binaries import find_postgres, find_redis, version_of
from realstack.errors import ProviderUnavailable, ServiceError
from realstack.model import Service
from realstack.state import InstancePaths
from realstack.supervisor import LaunchSpec


def launch_spec(
    service: Service,
    paths: InstancePaths,
    env: Mapping[str, str],
    instance_id: str,
    new_data: Callable[[], None],
) -> LaunchSpec:
    """Prepare what ``service`` needs on disk and say how to exec it (``env``: for apps;
    ``new_data``: called when PostgreSQL gets a new, empty cluster)."""
    if service.kind == "postgres":
        return _postgres(service, paths, instance_id, new_data)
    if service.kind == "redis":
        return _redis(service, paths)
    if service.kind == "clickhouse":
        raise ProviderUnavailable(
            f"{service.name}: ClickHouse has no native provider; use docker",
            provider="native",
            service=service.name,
        )
    inherited = base_env(service.inherit_env)
    return LaunchSpec(argv=service.command, env={**UNBUFFERED, **inherited, **env}, cwd=service.cwd)


# Output goes to a log file, which Python block-buffers: what an app or a task printed would
# show in `services.logs` kilobytes late, and a task stopped at its timeout would leave none of
# it. A command's own env (or an inherited value) says otherwise if it wants.
UNBUFFERED = {"PYTHONUNBUFFERED": "1"}


def check_major(service: Service, postgres: Path, data: Path) -> None:
    """Kept data from another PostgreSQL major version (a distro upgrade, another bin_dir):
    said before the server refuses it with "database files are incompatible with server"."""
    try:
        made_by = (data / "PG_VERSION").read_text().strip()
    except OSError:
        return  # the server says what is wrong with it
    found = version_of(str(postgres))  # "PostgreSQL 15.18"; remembered per binary
    major = found.removeprefix("PostgreSQL ").split(".")[0]
    if made_by and major.isdigit() and made_by != major:
        raise ServiceError(
            service.name,
            f"{service.name}: its data ({data}) was made by PostgreSQL {made_by}, and the server "
            f"found is {found} ({postgres}): point bin_dir at a PostgreSQL {made_by} build, or "
            f"`invoke services.stop --only {service.name} --purge` deletes the data and the "
            "next start makes it anew",
        )


# What an app process inherits from the shell that starts the stack; everything else it gets
# from the manifest (the env contract and its own ``env``), so a secret in the caller's shell
# never reaches it by accident.
BASE_ENV = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM")


def base_env(inherit: tuple[str, ...] = ()) -> dict[str, str]:
    """The documented base (:data:`BASE_ENV`, the locale's ``LC_*``) plus what the service's
    ``inherit_env`` asks for by name (``("*",)``: everything)."""
    if "*" in inherit:
        return dict(os.environ)
    return {
        k: v for k, v in os.environ.items() if k in BASE_ENV or k.startswith("LC_") or k in inherit
    }


def _postgres(
    service: Service, paths: InstancePaths, instance_id: str, new_data: Callable[[], None]
) -> LaunchSpec:
    postgres = find_postgres(service.bin_dir).path
    user = pgcluster.run_as_user()
    pgcluster.ensure_reachable(postgres.parent, user)
    cluster = pgstorage.prepare_data_dir(
        postgres.parent, service, paths.data_for(service.name), instance_id, user, paths.base
    )
    if cluster.created:
        new_data()
    else:
        check_major(service, postgres, cluster.path)
    data = cluster.path
    argv = [
        str(postgres),
        "-D",
        str(data),
        "-p",
        str(service.port),
        "-c",
        f"listen_addresses={service.host}",
        "-c",
        "unix_socket_directories=",  # TCP only: no socket dir to own or collide on
        "-c",
        "logging_collector=off",
        "-c",
        f"{identity.SETTING}={instance_id}",  # whose it is: see realstack.identity
    ]
    if not service.durable:
        argv += [
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ]
    for name, value in service.settings.items():  # last: the manifest's word wins
        argv += ["-c", f"{name}={value}"]
    return LaunchSpec(argv=tuple(argv), env=_base_env(), cwd=data, user=user)


def _redis(service: Service, paths: InstancePaths) -> LaunchSpec:
    server = find_redis(service.bin_dir).path
    data = paths.data_for(service.name)
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    argv = [
        str(server),
        "--bind",
        service.host,
        "--port",
        str(service.port),
        "--dir",
        str(data),
        "--daemonize",
        "no",
        "--protected-mode",
        "yes",
        "--logfile",
        "",
    ]
    if service.durable:
        argv += ["--appendonly", "yes"]
    else:
        argv += ["--save", "", "--appendonly", "no"]
    for name, value in service.settings.items():  # last: the manifest's word wins
        argv += [f"--{name}", value]
    return LaunchSpec(argv=tuple(argv), env=_base_env(), cwd=data)


def stop_signal(service: Service) -> signal.Signals:
    """SIGINT is PostgreSQL's "fast" shutdown; its SIGTERM ("smart") waits for every client."""
    return signal.SIGINT if service.kind == "postgres" else signal.SIGTERM


def _base_env() -> dict[str, str]:
    """A minimal environment for servers: they must not pick up the caller's PG*/REDIS* vars."""
    keep = ("PATH", "LANG", "LC_ALL", "TZ")
    return {k: v for k, v in os.environ.items() if k in keep}
