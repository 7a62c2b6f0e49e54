"""Stop what realstack started, dependents first, and only what is proved ours (DESIGN.md's
ownership rules): one result per service, data kept unless asked."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from realstack import graph, oneshot, plan, runtime
from realstack.errors import ConfigError, RealstackError
from realstack.model import Service, Stack
from realstack.operation import as_error, locked
from realstack.providers import Absent, Orphan, Ours, Stale
from realstack.providers.placement import Placement
from realstack.records import Records
from realstack.results import Action, Event, Progress, Report, ServiceResult, quiet
from realstack.state import InstancePaths
from realstack.waiting import REAL_CLOCK, Clock


def left_alone(services: Sequence[Service]) -> Report:
    """A deployed env: one ``external`` result per service, and nothing done."""
    return Report(tuple(ServiceResult(s.name, Action.EXTERNAL) for s in services), 0.0)


def stop_one(
    svc: Service, placement: Placement, records: Records, paths: InstancePaths, clock: Clock
) -> ServiceResult:
    """Stop one service if it is ours; the one exception → result conversion of a stop.

    Asks again after each find: a stale native record may hide a container of ours, and a
    service may have left something behind under each provider it ran under.
    """
    t0 = clock.now()
    stopped: list[Ours | Orphan] = []
    stale = False
    try:
        for _ in range(4):  # record's provider, then each candidate: bounded
            where = runtime.locate(placement, records, svc)
            found = where.found
            if isinstance(found, Ours | Orphan) and where.provider is not None:
                where.provider.stop(svc, found)
                stopped.append(found)
            stale = stale or isinstance(found, Stale)
            if where.record is not None or where.foreign_record:
                records.delete(svc.name)
            elif isinstance(found, Absent | Stale):
                break
    except Exception as exc:  # noqa: BLE001 - converted once, here
        error = as_error(svc.name, exc, paths)
        return ServiceResult(svc.name, Action.FAILED, port=svc.port, error=error)
    if stopped:
        first = stopped[0]
        pid = getattr(first.handle.record, "pid", None) if isinstance(first, Ours) else first.pid
        return ServiceResult(svc.name, Action.STOPPED, pid, svc.port, clock.now() - t0)
    return ServiceResult(svc.name, Action.STALE if stale else Action.NOT_RUNNING, port=svc.port)


def finish(
    placement: Placement,
    services: Sequence[Service],
    *,
    purge: bool,
    progress: Progress,
) -> None:
    """Shared leftovers (a compose network) of every provider this operation used."""
    for provider in placement.used():
        with contextlib.suppress(RealstackError):  # leftovers never fail a stop
            for what in provider.finish(services, purge=purge):
                progress(provider.name, Event.DOWN, what)


def stop(
    stack: Stack,
    *,
    only: Sequence[str] | None = None,
    purge: bool = False,
    progress: Progress = quiet,
    lock_timeout: float = 300.0,
    placement: Placement | None = None,
    clock: Clock = REAL_CLOCK,
) -> Report:
    """Stop what realstack started (dependents first); keep data unless ``purge``."""
    t0 = clock.now()
    chosen = plan.selected(stack, only)
    if stack.deployed:
        if purge:
            raise ConfigError(
                "purge", f"env {stack.env!r} is a deployed stack: realstack never deletes its data"
            )
        return left_alone(chosen)
    placement = placement or Placement(stack)
    paths = InstancePaths(stack.state_dir)
    records = runtime.records_of(stack)
    results: list[ServiceResult] = []
    with locked(paths, lock_timeout, progress, clock):
        for svc in graph.dependents_first(chosen):
            # a service whose profile is off is still asked (an earlier start may have had
            # it on), but said only when something of it was there: no "stopping" for it
            off = only is None and not stack.enabled(svc)
            if not off:
                progress(svc.name, Event.STOPPING, "")
            result = stop_one(svc, placement, records, paths, clock)
            results.append(result)
            detail = f"in {result.seconds:.2f}s" if result.action == Action.STOPPED else ""
            if not (off and result.action == Action.NOT_RUNNING):
                progress(svc.name, Event(result.action.value), detail)
            if purge and result.ok:
                for provider in placement.candidates(svc, None):
                    for what in provider.purge(svc):
                        progress(svc.name, Event.PURGED, what)
                for task in oneshot.forget_dependents(stack, svc.name):
                    why = "" if task == svc.name else f" (its work was in {svc.name})"
                    progress(task, Event.PURGED, f"its last run{why}")
        # The project's network goes once its last container has (also after `--only` stops
        # of every service, as nox sessions do); volumes of services not stopped never do.
        finish(placement, chosen, purge=purge and only is None, progress=progress)
        runtime.write(stack, placement)
    return Report(tuple(results), clock.now() - t0)
