"""What runs now, for this instance: the one "is it ours?" lookup (:func:`locate`) that start,
stop and status share, and the env contract of what runs (``runtime.env`` / ``runtime.json``).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from realstack import envfile
from realstack.errors import NothingRuns
from realstack.logfiles import FileLogs
from realstack.model import Service, Stack
from realstack.providers import Absent, Found, Logs, Ours, Provider
from realstack.providers.placement import Placement
from realstack.records import FOREIGN_RECORD, ContainerRecord, ProcessRecord, Record, Records
from realstack.state import InstancePaths


@dataclass(frozen=True)
class Located:
    """Where ``find`` found a service: the provider asked, its answer, and the record used."""

    provider: Provider | None
    found: Found
    record: Record | None
    foreign_record: bool = False  # a record of another instance was there (ignored)


def records_of(stack: Stack) -> Records:
    return Records(InstancePaths(stack.state_dir), stack.instance_id)


def locate(placement: Placement, records: Records, svc: Service) -> Located:
    """Ask the provider of this instance's record, or (no record) every provider the service
    could run under, whether it is ours. A record of another instance counts as none."""
    raw = records.read(svc.name)
    record = raw if isinstance(raw, ProcessRecord | ContainerRecord) else None
    foreign = raw is FOREIGN_RECORD
    for provider in placement.candidates(svc, record):
        found = provider.find(svc, record)
        if not isinstance(found, Absent):
            return Located(provider, found, record, foreign)
    return Located(None, Absent(), record, foreign)


def logs(stack: Stack, svc: Service, placement: Placement | None = None) -> Logs:
    """Where ``svc``'s output is: with the provider that runs (or last ran) it."""
    placement = placement or Placement(stack)
    raw = records_of(stack).read(svc.name)
    record = raw if isinstance(raw, ProcessRecord | ContainerRecord) else None
    native = record.provider == "native" if record else placement.choose(svc) == "native"
    if native:  # its file, without loading the native provider (a test run's marks)
        return FileLogs(InstancePaths(stack.state_dir).log(svc.name))
    provider = placement.candidates(svc, record)[0] if record else placement.for_start(svc)
    return provider.logs(svc)


def live(stack: Stack, placement: Placement, skip: Collection[str] = ()) -> dict[str, Located]:
    """The services of this instance that run (a live, matching record), by name; those in
    ``skip`` are not asked."""
    records = records_of(stack)
    found = {}
    for svc in stack.services:
        if svc.name in skip or records.read(svc.name) is None:
            continue  # nothing recorded: not part of the contract (orphans are not served)
        where = locate(placement, records, svc)
        if isinstance(where.found, Ours):
            found[svc.name] = where
    return found


def contract(stack: Stack, placement: Placement | None = None) -> dict[str, str]:
    """The env contract of what runs now (a deployed env: what its env file offers)."""
    return _contract(stack, placement)[0]


def contract_and_moves(
    stack: Stack, placement: Placement | None = None
) -> tuple[dict[str, str], list[str]]:
    """``env.show``'s: the contract of what runs, and for each running service whose port the
    manifest has since moved a sentence saying so. Raises :class:`NothingRuns` when nothing
    of a local env runs."""
    values, moves, running = _contract(stack, placement)
    if not running:
        start = f"invoke services.start --wait --env {stack.env}"
        raise NothingRuns(f"nothing of env {stack.env!r} runs: `{start}`")
    return values, moves


def _contract(stack: Stack, placement: Placement | None) -> tuple[dict[str, str], list[str], bool]:
    """The contract, the moves, and whether anything runs (a deployed env always does). A
    moved service is left out of the contract: its exports would name the manifest's port,
    where something else may answer."""
    if stack.deployed:
        return envfile.contract(stack, stack.names, enabled=False), [], True
    running = live(stack, placement or Placement(stack))
    moves, moved = [], set()
    for name, where in running.items():
        record = where.found.handle.record if isinstance(where.found, Ours) else None
        port = stack.service(name).port
        if record is not None and record.port and record.port != port:
            moved.add(name)
            moves.append(
                f"{name} runs on port {record.port}, but the manifest now says {port}: left "
                "out; `invoke services.start` moves it there"
            )
    return envfile.contract(stack, set(running) - moved, enabled=False), moves, bool(running)


def _records(running: Mapping[str, Located]) -> dict[str, Record]:
    """The record of each service :func:`live` found running."""
    return {
        name: where.found.handle.record
        for name, where in running.items()
        if isinstance(where.found, Ours)
    }


def _runtime(stack: Stack, running: Mapping[str, Record]) -> dict[str, Any]:
    """``runtime.json`` but the contract: per service what runs (its pid or container, port,
    provider, when it started and how long it took to be ready)."""
    services = {}
    for svc in stack.services:
        record = running.get(svc.name)
        services[svc.name] = {
            "state": "running" if record else "down",
            "pid": getattr(record, "pid", None),
            "container": getattr(record, "container_id", None),
            "port": svc.port,
            "provider": record.provider if record else None,
            "started_at": record.started_at if record else None,
            "ready_seconds": record.ready_seconds if record else None,
        }
    return {
        "realstack_env": stack.env,
        "instance": stack.instance,
        "instance_id": stack.instance_id,
        "services": services,
    }


def write(stack: Stack, placement: Placement, known: Mapping[str, Record] | None = None) -> None:
    """``runtime.env`` and ``runtime.json``: the contract, and per service what runs.

    ``known``: the records of services the caller has just seen ready (a start's, at its end),
    which need no second lookup; every other service is located as usual."""
    known = known or {}
    running = {**_records(live(stack, placement, skip=known)), **known}
    envfile.write(
        InstancePaths(stack.state_dir),
        envfile.contract(stack, set(running), enabled=False),
        {**_runtime(stack, running), "written_at": time.time()},
    )


def written(stack: Stack, running: Mapping[str, Located]) -> bool:
    """Whether the contract on disk already describes ``running`` (what :func:`live` found):
    then a start that changed nothing has nothing to write."""
    return envfile.written(
        InstancePaths(stack.state_dir),
        envfile.contract(stack, set(running), enabled=False),
        _runtime(stack, _records(running)),
        ignore=("written_at",),
    )
