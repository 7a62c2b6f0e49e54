"""Start, stop and restart a :class:`Stack`: lock, plan, schedule, roll back, report.

Results come back as values (one per service). Each operation converts exceptions to results
in one place (:func:`realstack.operation.as_error`): a realstack error as it is, anything
unexpected as a message for the user with its traceback kept in the instance's
``logs/realstack.log``. Stopping is :mod:`realstack.stopping`'s. A start starts
only what is missing, in dependency order and in parallel where the graph allows, and rolls
back what it started if anything fails; the rollback's own results are kept in the report.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING

from realstack import graph, interrupts, leases, plan, registry, runtime, stopping, warm
from realstack._scheduler import run_graph
from realstack.errors import ConfigError, RealstackError
from realstack.model import Service, Stack
from realstack.operation import OPERATION, as_error, locked
from realstack.providers.placement import Placement
from realstack.records import Record
from realstack.results import Action, Event, Progress, Report, ServiceResult, quiet
from realstack.state import InstancePaths
from realstack.stopping import stop
from realstack.waiting import REAL_CLOCK, Clock

if TYPE_CHECKING:  # loaded by a start that has work to do: a warm one answers without it
    from realstack._launch import Launch

__all__ = ["OPERATION", "as_error", "check_names", "locked", "restart", "start", "stop"]

check_names = plan.check_names


def start(
    stack: Stack,
    *,
    only: Sequence[str] | None = None,
    wait: bool = True,
    timeout: float | None = None,
    progress: Progress = quiet,
    lock_timeout: float = 300.0,
    provider: str | None = None,
    profiles: Collection[str] = (),
    placement: Placement | None = None,
    clock: Clock = REAL_CLOCK,
    rerun: Collection[str] = (),
) -> Report:
    """Start what is missing of ``only`` (default: the enabled services) and its dependencies.

    ``provider`` overrides the manifest's for postgres/redis services (``--provider``);
    ``profiles`` are activated for this start only (``--profile``). ``timeout`` (seconds,
    0 included) replaces each service's ``startup_timeout``. One-shot tasks run when their
    last successful run is not current, and always those named in ``rerun``.
    """
    t0 = clock.now()
    if stack.deployed:
        return stopping.left_alone(plan.to_start(stack, only, profiles))
    plan.to_start(stack, only, profiles)  # usage errors before anything else
    if not rerun:  # a loaded stack has its leased ports: what runs is found where it runs
        warm_placement = placement or Placement(stack, provider)
        nothing_to_do = warm.already_up(stack, warm_placement, only, profiles, progress, clock)
        if nothing_to_do is not None:
            return dataclasses.replace(nothing_to_do, seconds=clock.now() - t0)
    from realstack._launch import Launch  # noqa: PLC0415 - see the TYPE_CHECKING import
    from realstack._launch_ports import ports_taken  # noqa: PLC0415

    paths = InstancePaths(stack.state_dir)
    with locked(paths, lock_timeout, progress, clock):
        # leased under the instance lock: a full range hands on no port of an instance
        # whose start is under way (:mod:`realstack.lease_handover`)
        stack, registered = leases.claimed(stack, progress)
        placement = placement or Placement(stack, provider)
        the_plan = plan.make(
            stack,
            placement,
            runtime.live(stack, placement),
            only=only,
            profiles=profiles,
            progress=progress,
            rerun=rerun,
        )
        for prov in {id(p): p for p in the_plan.providers.values()}.values():
            prov.preflight([s for s in the_plan.services if the_plan.providers[s.name] is prov])
        run = Launch(the_plan, placement, runtime.records_of(stack), progress, clock, timeout)
        try:
            errors = ports_taken(run) or _execute(run, wait, paths)
        except BaseException as exc:  # Ctrl-C, SIGTERM: leave nothing behind, then say so
            with interrupts.held_off():  # a second Ctrl-C must not cut the rollback short
                undone = _rollback(stack, run, placement, paths)
            if isinstance(exc, KeyboardInterrupt):
                raise interrupts.StartInterrupted(interrupts.signum_of(exc), undone) from exc
            raise
        # All up: the env contract is the last part of a start, and failing to write it
        # fails the start like a service would (rolled back); after a rollback it is written
        # again for what still runs (the reused services).
        unwritten = None if errors else _write_runtime(stack, placement, paths, run.seen_ready)
        failed = bool(errors) or unwritten is not None
        rollback = _rollback(stack, run, placement, paths) if failed else ()
        if failed and unwritten is None:
            unwritten = _write_runtime(stack, placement, paths)
        results = tuple(_start_result(s, run, errors, failed) for s in the_plan.services)
        if unwritten is not None:
            results += (ServiceResult(OPERATION, Action.FAILED, error=unwritten),)
        elif not failed and not registered:  # the claim wrote its entry as it runs now
            why = registry.note(stack)
            if why is not None:
                progress(OPERATION, Event.NOTE, f"not in the machine's registry: {why}")
    return Report(results, clock.now() - t0, rollback)


def _write_runtime(
    stack: Stack,
    placement: Placement,
    paths: InstancePaths,
    ready: Mapping[str, Record] | None = None,
) -> RealstackError | None:
    """Write the env contract (``ready``: services this start saw ready, not looked up again);
    a failure comes back as the operation's error."""
    try:
        runtime.write(stack, placement, ready)
    except Exception as exc:  # noqa: BLE001 - converted once, here
        return as_error(OPERATION, exc, paths)
    return None


def _execute(run: Launch, wait: bool, paths: InstancePaths) -> dict[str, RealstackError]:
    services = {s.name: s for s in run.plan.services}
    needed_healthy = {
        d.service for s in services.values() for d in s.depends_on if d.condition == "healthy"
    }

    def step(node: graph.Node) -> None:
        name, phase = node
        if phase == "started":
            run.ensure_running(services[name])
        elif wait or services[name].is_task or name in needed_healthy or name in run.reused:
            run.await_ready(services[name])

    failures = run_graph(
        graph.phase_graph(list(services.values())), step, run.cancel, 2 * len(services)
    )
    return {node[0]: as_error(node[0], exc, paths) for node, exc in failures.items()}


def _rollback(
    stack: Stack, run: Launch, placement: Placement, paths: InstancePaths
) -> tuple[ServiceResult, ...]:
    """Stop what this start started (never what it reused), newest first; results kept."""
    results = []
    for name in reversed(run.started):
        run.progress(name, Event.ROLLBACK, "stopping what this start started")
        svc = stack.service(name)
        results.append(stopping.stop_one(svc, placement, run.records, paths, run.clock))
    stopping.finish(placement, run.plan.services, purge=False, progress=run.progress)
    return tuple(results)


def _start_result(
    svc: Service, run: Launch, errors: dict[str, RealstackError], failed: bool
) -> ServiceResult:
    if svc.name in errors:
        return ServiceResult(svc.name, Action.FAILED, port=svc.port, error=errors[svc.name])
    if svc.name in run.current:
        return ServiceResult(svc.name, Action.UP_TO_DATE)
    if svc.name in run.completed:  # what a task did stays done, also when the start fails
        return ServiceResult(svc.name, Action.COMPLETED, seconds=run.ready_seconds[svc.name])
    handle = run.handles.get(svc.name)
    if handle is None:
        return ServiceResult(svc.name, Action.CANCELLED, port=svc.port)
    reused = svc.name in run.reused
    if failed and not reused:
        return ServiceResult(svc.name, Action.ROLLED_BACK, port=svc.port)
    action = Action.REUSED if reused else Action.STARTED
    if svc.name in run.restarted:
        action = Action.RESTARTED
    return ServiceResult(
        svc.name,
        action,
        getattr(handle.record, "pid", None),
        svc.port,
        run.ready_seconds.get(svc.name, 0.0),
    )


def restart(
    stack: Stack,
    name: str,
    *,
    timeout: float | None = None,
    progress: Progress = quiet,
    lock_timeout: float = 300.0,
    provider: str | None = None,
    placement: Placement | None = None,
    clock: Clock = REAL_CLOCK,
) -> Report:
    """Stop one service and start it again (same placement for both), until it is healthy; a
    task runs again even if nothing changed."""
    check_names(stack, [name], "name")
    if stack.deployed:
        raise ConfigError(
            "name", f"env {stack.env!r} is a deployed stack: realstack restarts nothing there"
        )
    # leased first: the placement (a compose file's variables) must see the ports it starts on
    stack, _ = leases.claimed(stack, progress)
    placement = placement or Placement(stack, provider)
    stopped = stop(
        stack,
        only=[name],
        progress=progress,
        lock_timeout=lock_timeout,
        placement=placement,
        clock=clock,
    )
    if not stopped.ok:
        return stopped
    # a task ran again: what runs on its work restarts with it (the next start would not)
    again = [name]
    if stack.service(name).is_task:
        running = runtime.live(stack, placement)
        again += [
            s.name
            for s in stack.services
            if s.name in running and any(d.service == name for d in s.depends_on)
        ]
    return start(
        stack,
        only=again,
        wait=True,
        timeout=timeout,
        progress=progress,
        lock_timeout=lock_timeout,
        placement=placement,
        clock=clock,
        rerun=[name],
    )
