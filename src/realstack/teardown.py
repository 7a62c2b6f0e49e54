"""Taking services down: one service (native process group or container), the compose
project's leftovers, and the runtime files that say what runs afterwards."""

from __future__ import annotations

import shutil
import time

import psutil

from realstack import envfile, pidfile, supervisor
from realstack.errors import ProviderError
from realstack.model import Service, Stack
from realstack.providers import docker as docker_provider
from realstack.providers.native import stop_signal
from realstack.results import Reporter, ServiceResult
from realstack.state import InstancePaths


def stop_one(
    svc: Service,
    paths: InstancePaths,
    marked: dict[str, list[psutil.Process]],
    stack: Stack | None = None,
    purge: bool = False,
) -> ServiceResult:
    record_path = paths.record(svc.name)
    record = pidfile.read(record_path)
    if stack is not None and docker_provider.manages(stack, svc, record):
        return _stop_docker(stack, svc, paths, record, purge)
    marker = record.marker if record else paths.marker(svc.name)
    proc = pidfile.process_of(record) if record else None
    orphans = marked.get(marker, [])
    t0 = time.monotonic()
    paths.intent(svc.name).unlink(missing_ok=True)
    if proc is None and not orphans:
        record_path.unlink(missing_ok=True)
        return ServiceResult(svc.name, "stale" if record else "not-running", port=svc.port)
    supervisor.stop(proc, marker, orphans, stop_signal=stop_signal(svc), timeout=svc.stop_timeout)
    if proc is not None:
        supervisor.forget(proc.pid)
    record_path.unlink(missing_ok=True)
    return ServiceResult(
        svc.name, "stopped", proc.pid if proc else None, svc.port, time.monotonic() - t0
    )


def _stop_docker(
    stack: Stack, svc: Service, paths: InstancePaths, record: pidfile.Record | None, purge: bool
) -> ServiceResult:
    """``compose rm`` the container: the container's pid is never signalled directly."""
    proc = pidfile.process_of(record) if record else None
    t0 = time.monotonic()
    paths.intent(svc.name).unlink(missing_ok=True)
    try:
        docker_provider.stop(stack, svc, purge)
    except ProviderError as exc:
        return ServiceResult(svc.name, "failed", port=svc.port, error=exc)
    paths.record(svc.name).unlink(missing_ok=True)
    return ServiceResult(
        svc.name,
        "stopped" if proc is not None or record is None else "stale",
        proc.pid if proc else None,
        svc.port,
        time.monotonic() - t0,
    )


def purge(svc: Service, paths: InstancePaths, stack: Stack) -> list[str]:
    """Delete a stopped service's data: its native data dir and, for a service that may run
    in docker, its named volumes (also when its container is long gone). What went."""
    gone = []
    data = paths.data_for(svc.name)
    if data.exists():
        shutil.rmtree(data, ignore_errors=True)
        gone.append(str(data))
    if svc.may_use_docker and stack.compose_path.is_file() and docker_provider.engine_available():
        gone += docker_provider.remove_volumes(stack, svc)
    return gone


def down_docker_project(stack: Stack, purge: bool, report: Reporter) -> None:
    """Once no container of the project is left: its network (and, purging, its volumes)."""
    if not any(s.may_use_docker for s in stack.services):
        return
    if not stack.compose_path.is_file() or not docker_provider.engine_available():
        return
    if docker_provider.containers(stack):
        return  # containers the manifest does not name: not ours to remove by accident
    if not docker_provider.has_leftovers(stack, purge):
        return  # nothing to remove: spare the compose call
    docker_provider.down(stack, purge)
    report("docker", "down", docker_provider.project_name(stack) + (" (volumes)" if purge else ""))


def write_runtime(stack: Stack, paths: InstancePaths) -> None:
    services = {}
    live: set[str] = set()
    for svc in stack.services:
        record = pidfile.read(paths.record(svc.name))
        running = record is not None and pidfile.process_of(record) is not None
        if running:
            live.add(svc.name)
        services[svc.name] = {
            "state": "running" if running else "down",
            "pid": record.pid if running and record else None,
            "port": svc.port,
            "provider": record.provider if record else None,
            "started_at": record.started_at if running and record else None,
            "ready_seconds": record.ready_seconds if running and record else None,
        }
    envfile.write(
        paths,
        envfile.contract(stack, live),
        {
            "realstack_env": stack.env,
            "instance": stack.instance,
            "written_at": time.time(),
            "services": services,
        },
    )
