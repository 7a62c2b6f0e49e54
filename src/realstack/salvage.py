"""Stop from the records when the manifest cannot be loaded (``services.stop`` on a broken
pyproject), and what is left of an instance whose checkout was deleted (``services.prune``).

A typo in the manifest must not leave a running stack unstoppable: the instance is derived
without it (:mod:`realstack.fallback_instance`). Every service a record or a log there names
then goes through its provider's own ``find``: what is stopped is proved ours (pid + create
time + this instance's marks; container id + this instance's labels), never taken on a
record's word. A record that fails the proof is kept and reported, not deleted: realstack
only clears up what it stopped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from realstack import runtime
from realstack.errors import RealstackError
from realstack.fallback_instance import instance_without_manifest, project_root
from realstack.model import Probe, Service, ServiceKind, Stack
from realstack.operation import as_error, locked
from realstack.providers import Orphan, Ours, Stale
from realstack.providers.placement import Placement, prune_gone
from realstack.records import ContainerRecord, ProcessRecord, Record, Records
from realstack.results import Action, Event, Progress, Report, ServiceResult, quiet
from realstack.state import InstancePaths
from realstack.waiting import REAL_CLOCK, Clock

if TYPE_CHECKING:
    from realstack.status import ServiceStatus

__all__ = ["instance_without_manifest", "project_root", "seen_from_records", "stop_from_records"]

_TRACEBACK_LOG = "realstack"  # logs/realstack.log keeps tracebacks; it names no service


def recorded_names(paths: InstancePaths) -> list[str]:
    """Services this instance has a record or a log of (a log: an unrecorded orphan may write
    to it). Damage is not reported here: :meth:`InstancePaths.check` names it."""
    found: set[str] = set()
    for folder, suffix in ((paths.services, ".json"), (paths.logs, ".log")):
        try:
            names = {p.name.removesuffix(suffix) for p in folder.iterdir() if p.suffix == suffix}
        except OSError:
            continue
        if folder == paths.logs:
            names.discard(_TRACEBACK_LOG)
        found |= {n for n in names if n and not n.startswith(".")}
    return sorted(found)


def _own_records(records: Records, names: Sequence[str]) -> dict[str, Record]:
    """The well-formed records among ``names``' (a foreign or damaged one reads as another
    type): what a stop from the records may name a service's kind and port after."""
    read = {n: records.read(n) for n in names}
    return {n: r for n, r in read.items() if isinstance(r, ProcessRecord | ContainerRecord)}


def _service(name: str, record: Record | None) -> Service:
    """What a stop needs of a service: its name and, from its record, its compose service and
    whether it is PostgreSQL (stopped with SIGINT, its fast shutdown). The rest is unused."""
    kind: ServiceKind = "process"
    if isinstance(record, ProcessRecord) and Path(next(iter(record.argv), "")).name == "postgres":
        kind = "postgres"
    compose = record.compose_service if isinstance(record, ContainerRecord) else ""
    port = record.port if record is not None else 0
    return Service(name, kind, port, Probe("tcp"), compose_service=compose)


def _not_ours(where: runtime.Located, path: Path) -> str:
    if where.foreign_record:
        return f"not ours: the record names another instance; kept ({path})"
    record = where.record
    if isinstance(record, ContainerRecord):
        what = f"container {record.container_id[:12]} is not this instance's (gone or relabelled)"
    else:
        pid = record.pid if isinstance(record, ProcessRecord) else "?"
        what = f"pid {pid} is not this instance's process (gone, reused or unmarked)"
    return f"not ours / stale: {what}; record kept ({path})"


def _stop_one(
    svc: Service, placement: Placement, records: Records, clock: Clock
) -> tuple[ServiceResult, str]:
    """Stop ``svc`` if its provider proves it ours; the result and its progress detail."""
    t0 = clock.now()
    paths = records.paths
    try:
        where = runtime.locate(placement, records, svc)
        found = where.found
        if isinstance(found, Ours | Orphan) and where.provider is not None:
            where.provider.stop(svc, found)
            if where.record is not None:
                records.delete(svc.name)
            took = clock.now() - t0
            pid = (
                found.pid
                if isinstance(found, Orphan)
                else getattr(found.handle.record, "pid", None)
            )
            kept = f"; {_not_ours(where, paths.record(svc.name))}" if where.foreign_record else ""
            stopped = ServiceResult(svc.name, Action.STOPPED, pid, svc.port, took)
            return stopped, f"in {took:.2f}s{kept}"
    except Exception as exc:  # noqa: BLE001 - one service's failure must not stop the others
        if isinstance(exc, RealstackError) or paths.root.is_dir():
            error = as_error(svc.name, exc, paths)  # printed with the others at the end
        else:  # a deleted checkout: its traceback is not kept there (nothing is made again)
            error = RealstackError(f"{svc.name}: unexpected {type(exc).__name__}: {exc}")
        return ServiceResult(svc.name, Action.FAILED, port=svc.port, error=error), ""
    if isinstance(found, Stale) or where.foreign_record:
        return ServiceResult(svc.name, Action.STALE), _not_ours(where, paths.record(svc.name))
    return ServiceResult(svc.name, Action.NOT_RUNNING), ""


def _stop_each(
    instance: Stack,
    services: Sequence[Service],
    records: Records,
    progress: Progress,
    clock: Clock,
) -> list[ServiceResult]:
    """Stop each of ``services`` in this order, on its provider's proof (see :func:`_stop_one`)."""
    placement = Placement(replace(instance, services=tuple(services)))
    results = []
    for svc in services:
        progress(svc.name, Event.STOPPING, "")
        result, detail = _stop_one(svc, placement, records, clock)
        results.append(result)
        progress(svc.name, Event(result.action.value), detail)
    return results


def stop_from_records(
    instance: Stack,
    *,
    progress: Progress = quiet,
    lock_timeout: float = 300.0,
    clock: Clock = REAL_CLOCK,
) -> Report:
    """Stop what this instance's records and logs prove ours, newest first (a dependent
    starts after what it needs), under the instance lock. Data stays."""
    t0 = clock.now()
    paths = InstancePaths(instance.state_dir)
    records = Records(paths, instance.instance_id)
    with locked(paths, lock_timeout, progress, clock):
        names = recorded_names(paths)
        paths.check(names, write=True)
        own = _own_records(records, names)
        names.sort(key=lambda n: -own[n].started_at if n in own else -math.inf)
        services = tuple(_service(n, own.get(n)) for n in names)
        results = _stop_each(instance, services, records, progress, clock)
    return Report(tuple(results), clock.now() - t0)


def seen_from_records(instance: Stack) -> list[ServiceStatus]:
    """``services.status`` without a manifest: each service this instance has a record or a
    log of, ``ours`` / ``orphan`` / ``stale`` / ``down`` on its provider's proof (as a stop
    from the records would find it). Not probed: how to probe is the manifest's to say."""
    from realstack.status import ServiceStatus  # noqa: PLC0415 - only a broken manifest's

    paths = InstancePaths(instance.state_dir)
    records = Records(paths, instance.instance_id)
    names = recorded_names(paths)
    own = _own_records(records, names)
    services = tuple(_service(n, own.get(n)) for n in names)
    placement = Placement(replace(instance, services=services))
    rows = []
    for svc in services:
        where = runtime.locate(placement, records, svc)
        found, provider = where.found, where.provider.name if where.provider else "-"
        row = ServiceStatus(svc.name, "-", provider, svc.port, health="-")  # kind: manifest's
        if isinstance(found, Ours):
            record = found.handle.record
            row = replace(
                row,
                state="ours",
                pid=getattr(record, "pid", None),
                container=getattr(record, "container_id", None),
                uptime=time.time() - record.started_at,
                health="not probed: the manifest says how",
            )
        elif isinstance(found, Orphan):
            row = replace(row, state="orphan", pid=found.pid, health=found.detail)
        elif isinstance(found, Stale) or where.foreign_record:
            row = replace(row, state="stale", health=_not_ours(where, paths.record(svc.name)))
        rows.append(row)
    return rows


def stop_gone(
    instance: Stack, names: Sequence[str], *, progress: Progress = quiet, clock: Clock = REAL_CLOCK
) -> Report:
    """Stop what is left of an instance whose checkout was deleted: the services it named
    (the machine's registry) and any it still has records of, each only on the providers'
    proof (its processes bear the instance's marks in their environment; its containers the
    instance's labels, found on the engine without a record). No lock and no
    state dir is created: the place is gone, and nothing may be made there again."""
    t0 = clock.now()
    paths = InstancePaths(instance.state_dir)
    records = Records(paths, instance.instance_id)
    everything = sorted({*names, *(recorded_names(paths) if paths.root.is_dir() else [])})
    own = _own_records(records, everything)
    results = _prune_containers(instance, progress, clock)
    swept = {r.name for r in results}
    services = tuple(_service(n, own.get(n)) for n in everything if n not in swept)
    results += _stop_each(instance, services, records, progress, clock)
    return Report(tuple(results), clock.now() - t0)


def _prune_containers(instance: Stack, progress: Progress, clock: Clock) -> list[ServiceResult]:
    """The gone instance's containers, found on the engine by its labels (its container
    records went with the checkout); a failure is the prune's failure, never skipped."""
    t0 = clock.now()
    try:
        removed = prune_gone(instance)
    except RealstackError as exc:
        return [ServiceResult("docker", Action.FAILED, error=exc)]
    took = clock.now() - t0
    for name in removed:
        progress(name, Event.STOPPED, f"container removed in {took:.2f}s")
    return [ServiceResult(name, Action.STOPPED, None, 0, took) for name in removed]
