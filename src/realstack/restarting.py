"""A restart that running tests do not meet: ``invoke services.restart`` holds the stack alone.

A test suite that runs against the stack (the plugin's strict tests, in any worker or run of
this checkout) holds it shared while each test runs. A restart from a terminal waits for the
tests in flight to end, keeps the next ones out until the service and every running service
that depends on it pass their probes again, then lets them go on: the same window the
plugin's ``realstack.restart(name)`` holds (:mod:`realstack.stackshare`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass

from realstack import graph, orchestrator, probes
from realstack.model import Service, Stack
from realstack.registry import running_ports
from realstack.results import Event, Progress, Report, quiet
from realstack.stackshare import WAIT, StackShare
from realstack.waiting import WaitTimeout, wait_until


def running_dependents(
    stack: Stack, names: Collection[str], *, direct: bool = False
) -> list[Service]:
    """The services (not tasks) of this checkout that run, as its records say, and depend on
    any of ``names``: through others too (they must answer again after a restart), or only
    ``direct``ly (they held a connection to it)."""
    if direct:
        users = [s for s in stack.services if any(d.service in names for d in s.depends_on)]
    else:
        found = {s.name: s for n in names for s in graph.dependents(stack.services, n)}
        users = [s for s in stack.services if s.name in found]
    users = [s for s in users if not s.is_task and s.name not in names]
    running = running_ports(stack.state_dir, stack.instance_id, [s.name for s in users])
    return [s for s in users if s.name in running]


def dependents_answer(name: str, users: list[Service]) -> str | None:
    """Wait until each of ``users`` passes its probe (one that noticed ``name`` go may still
    say so); the first that does not within its startup timeout, as a sentence."""
    for svc in users:
        try:
            wait_until(probes.check_for(svc), svc.startup_timeout)
        except WaitTimeout as exc:
            return (
                f"{svc.name} depends on {name} and did not pass its probe within "
                f"{svc.startup_timeout:.0f}s after {name} came back: {exc.last_error}"
            )
    return None


@dataclass(frozen=True)
class Restarted:
    """What a restart did: the report, the seconds it waited for the tests in flight, and
    what a running dependent did not do afterwards (None: each answers)."""

    report: Report
    waited: float = 0.0
    dependent_down: str | None = None
    was_running: bool = True  # False: nothing was stopped, the "restart" only started it


def restart(
    stack: Stack, name: str, *, timeout: float | None = None, progress: Progress = quiet
) -> Restarted:
    """Restart ``name`` with the stack held alone, until it and its running dependents answer.

    Inside a test that holds the stack (``invoke services.restart`` run from one), waiting
    would be for that very test: it says so and does not wait."""

    def tell(waited: float, who: str) -> None:
        progress(
            name, Event.LOCK, f"waiting for the stack ({waited:.0f}s, up to {WAIT:.0f}s): {who}"
        )

    share = StackShare(stack.state_dir, WAIT, tell)
    hold: AbstractContextManager[None]
    if share.held_by_caller:
        progress(
            name,
            Event.NOTE,
            "run from a test that holds the stack: other tests are not kept out "
            "(`realstack.restart(name)` in the test does that)",
        )
        hold = nullcontext()
    else:
        hold = share.alone(f"`invoke services.restart {name}` (pid {os.getpid()}) holds it alone")
    t0 = time.monotonic()
    with ExitStack() as held:
        try:
            held.enter_context(hold)
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM/SIGHUP (interrupts.Interrupted)
            progress(
                name, Event.NOTE, f"interrupted while waiting for the stack: {name} not restarted"
            )
            raise
        waited = time.monotonic() - t0
        users = running_dependents(stack, [name])
        svc = stack.service(name)
        was = svc.is_task or bool(running_ports(stack.state_dir, stack.instance_id, [name]))
        report = orchestrator.restart(stack, name, timeout=timeout, progress=progress)
        if not report.ok:
            return Restarted(report, waited, was_running=was)
        return Restarted(report, waited, dependents_answer(name, users), was)
