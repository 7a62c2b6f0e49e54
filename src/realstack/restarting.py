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
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass

from realstack import graph, orchestrator, probes
from realstack.model import Service, Stack
from realstack.registry import running_ports
from realstack.results import Event, Progress, Report, quiet
from realstack.stackshare import StackShare
from realstack.waiting import WaitTimeout, wait_until


def running_dependents(stack: Stack, name: str) -> list[Service]:
    """The services of this checkout that run and depend on ``name`` (directly or not)."""
    users = [s for s in graph.dependents(stack.services, name) if not s.is_task]
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
    share = StackShare(stack.state_dir)

    def tell(waited: float, who: str) -> None:
        up_to = f"up to {share.wait:.0f}s"
        progress(name, Event.LOCK, f"waiting for the stack ({waited:.0f}s, {up_to}): {who}")

    share.tell = tell
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
        users = running_dependents(stack, name)
        svc = stack.service(name)
        was = svc.is_task or bool(running_ports(stack.state_dir, stack.instance_id, [name]))
        report = orchestrator.restart(stack, name, timeout=timeout, progress=progress)
        if not report.ok:
            return Restarted(report, waited, was_running=was)
        return Restarted(report, waited, dependents_answer(name, users), was)
