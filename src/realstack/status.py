"""Read-only inspection: which services run, who owns them, whether they answer.

The states come from the same provider ``find`` that start and stop act on, so the three
never disagree: ``ours`` (a live record of this instance), ``orphan`` (ours without a record:
``services.stop`` removes it), ``stale`` (a record nothing matches), ``foreign`` (someone else
answers on the port), ``down``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Literal

from realstack import fanout, oneshot, plan, runtime
from realstack.errors import RealstackError
from realstack.model import Service, Stack
from realstack.providers import Orphan, Ours, Stale
from realstack.providers.placement import Placement
from realstack.records import Records

State = Literal["ours", "orphan", "stale", "foreign", "down", "deployed", "not offered"]


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
    container: str | None = None  # a docker service's container id (it has no host pid)
    server: str | None = None  # a native server's version and binary, as it runs


def _task_row(stack: Stack, svc: Service, found: object) -> ServiceStatus:
    """A task runs only during a start: its row says how its last run ended and whether the
    next start runs it again."""
    row = ServiceStatus(svc.name, svc.kind, "native", 0)
    if isinstance(found, Ours):
        pid = getattr(found.handle.record, "pid", None)
        return dataclasses.replace(row, state="ours", pid=pid, health="running")
    if isinstance(found, Orphan):
        health = f"{found.detail}; `services.stop` cleans it up"
        return dataclasses.replace(row, state="orphan", pid=found.pid, health=health)
    run = oneshot.last_run(stack, svc.name)
    if run is None:
        return dataclasses.replace(row, health="not run yet: the next start runs it")
    ago = f"{duration(time.time() - run.finished_at)} ago, took {run.seconds:.2f}s"
    if run.exit_code == oneshot.TIMED_OUT:
        return dataclasses.replace(row, health=f"timed out {ago}; the next start runs it")
    if not run.ok:
        return dataclasses.replace(row, health=f"failed (exit {run.exit_code}) {ago}")
    key = oneshot.key_of(stack, svc, plan.settings_of(stack, svc, "native"))
    if svc.rerun == "always" or run.key != key:
        why = "runs on every start" if svc.rerun == "always" else "changed since; runs again"
        return dataclasses.replace(row, health=f"completed {ago}; {why} at the next start")
    return dataclasses.replace(row, health=f"completed {ago}; up to date")


def _server(pid: int | None) -> str | None:
    """The version and path of the binary a server of ours runs (its pid is proven ours)."""
    if pid is None:
        return None
    import psutil  # noqa: PLC0415 - status of native servers only

    from realstack.binaries import version_of  # noqa: PLC0415

    try:
        exe = psutil.Process(pid).exe()
    except psutil.Error:
        return None
    version = version_of(exe)
    return f"{version} ({exe})" if version else exe


def duration(seconds: float) -> str:
    """A duration as a status row says it: ``3d``, ``5h``, ``12m``, ``40s``."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{max(seconds, 0):.0f}s"


def _row(
    stack: Stack, svc: Service, placement: Placement, records: Records, probe: bool
) -> ServiceStatus:
    where = runtime.locate(placement, records, svc)
    found = where.found
    if svc.is_task:
        return _task_row(stack, svc, found)
    configured = placement.choose(svc)
    provider = where.provider.name if where.provider is not None else configured
    if isinstance(found, Ours):
        record = found.handle.record
        # where it runs, which a changed manifest does not move: probe and show that port
        running = dataclasses.replace(svc, port=record.port) if record.port else svc
        health = "-"
        if probe and where.provider is not None:
            health = where.provider.probe(running)() or "healthy"
        changed = plan.drift(record.settings, plan.settings_of(stack, svc, configured))
        if changed:
            health += f"; drifted from the manifest ({changed}): `services.start` restarts it"
        pid = getattr(record, "pid", None)
        return ServiceStatus(
            svc.name,
            svc.kind,
            provider,
            running.port,
            "ours",
            pid,
            time.time() - record.started_at,
            health,
            container=getattr(record, "container_id", None),
            server=_server(pid) if svc.kind in ("postgres", "redis") else None,
        )
    if isinstance(found, Orphan):
        health = f"{found.detail}; `services.stop` cleans it up"
        return ServiceStatus(
            svc.name, svc.kind, provider, svc.port, "orphan", found.pid, None, health
        )
    if not stack.enabled(svc) and not isinstance(found, Stale):
        # not part of this stack now: who else holds its port is the concern of a start
        # with its profile (this also spares a native stack the docker provider's import)
        health = f"profile {','.join(svc.profiles)} not enabled"
        return ServiceStatus(svc.name, svc.kind, provider, svc.port, health=health)
    occupant = placement.for_start(svc).occupant(svc)
    if occupant is not None:
        health = "answers, but realstack did not start it"
        return ServiceStatus(
            svc.name, svc.kind, provider, svc.port, "foreign", health=health, owner=occupant or None
        )
    if isinstance(found, Stale):
        return ServiceStatus(svc.name, svc.kind, provider, svc.port, "stale")
    return ServiceStatus(svc.name, svc.kind, provider, svc.port, health="-")


def _deployed_row(svc: Service, probe: bool) -> ServiceStatus:
    """A deployed env's service: where its env says it is, and whether it answers there."""
    from realstack import probes  # noqa: PLC0415

    if not svc.external:
        return ServiceStatus(svc.name, svc.kind, "external", 0, "not offered", health="-")
    health = (probes.check_for(svc)() or "healthy") if probe else "-"
    return ServiceStatus(svc.name, svc.kind, "external", svc.port, "deployed", health=health)


def status(
    stack: Stack, *, probe: bool = True, placement: Placement | None = None
) -> list[ServiceStatus]:
    """What runs, who owns it and whether it answers; never changes anything.

    The rows are found at once (a thread each): a probe or a server's ``--version`` waits on
    another process, and one slow service should not add to the others' time."""
    if stack.deployed:
        return fanout.each(lambda svc: _deployed_row(svc, probe), stack.services, "status")
    placement = placement or Placement(stack)
    records = runtime.records_of(stack)

    def row(svc: Service) -> ServiceStatus:
        try:
            return _row(stack, svc, placement, records, probe)
        except RealstackError as exc:  # an engine gone away: say so in the row, go on
            return ServiceStatus(
                svc.name, svc.kind, svc.provider, svc.port, health=f"unknown: {exc}"
            )

    return fanout.each(row, stack.services, "status")


def running_services(stack: Stack) -> set[str]:
    """The services with a live record of this instance: what the env contract describes."""
    return set(runtime.live(stack, Placement(stack)))
