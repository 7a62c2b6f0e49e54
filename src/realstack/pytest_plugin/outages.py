"""A test that stops a service of the shared stack, and the tests it must not meet.

Under xdist every worker runs against one stack, and so does a second run of the same
checkout. A test that stops a service (``with realstack.outage("auth"):``,
``realstack.restart("auth")``) breaks whatever another worker runs meanwhile: one worker
tears down what another still uses. So every strict test of a local stack holds the stack
*shared*, from before its first fixture to after its last teardown, and an outage holds it
*alone*, for its window only: from the stop until the service, and every running service
that depends on it, pass their probes again. What the test does before and after the window
runs beside the other workers' tests.

A readers-writer lock over ``flock(2)`` on two files in the instance's state dir. ``flock``
does not queue, so a stream of readers could starve a writer: a writer first shuts the
``gate`` (exclusive), which a reader passes (shared, for an instant) before it reads. An
outage lets go of its test's shared hold before it waits at the gate, so two outages cannot
wait on each other, and no reader waits while it holds.
"""

from __future__ import annotations

import fcntl
import os
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from pathlib import Path

import pytest

from realstack.errors import RealstackError
from realstack.model import Stack
from realstack.pytest_plugin import broken
from realstack.waiting import WaitTimeout, wait_until

WAIT = 600.0  # for the stack: an outage waits for the tests using it, they for its restart
ALONE_KEY = "realstack_alone_seconds"  # a test's user_properties: to xdist's controller, junitxml


class StackShare:
    """This process's hold on the stack: shared for the test that runs, alone for an outage."""

    def __init__(self, state_dir: Path, wait: float = WAIT) -> None:
        self.gate = state_dir / "tests.gate"
        self.lock = state_dir / "tests.lock"
        self.wait = wait
        self.item: pytest.Item | None = None
        self._shared: ExitStack | None = None
        self._alone = False

    def begin(self, item: pytest.Item | None = None) -> None:
        """Hold the stack shared (a strict test, from its setup on; the session's preflight)."""
        self.item = item
        if self._shared is None:
            with self._taken(self.gate, fcntl.LOCK_SH):  # a reader only passes the gate
                self._shared = self._held(self.lock, fcntl.LOCK_SH)

    def end(self) -> None:
        """Let go (after the test's last teardown)."""
        self.item = None
        self._drop()

    @contextmanager
    def alone(self) -> Iterator[None]:
        """The stack to this caller only: no other test, in any worker or run of this
        checkout, uses it meanwhile. The caller's shared hold is let go first and taken
        again after; inside another outage, the stack is already the caller's."""
        if self._alone:  # an outage inside an outage: the stack is this caller's already
            yield
            return
        item, was_held = self.item, self._shared is not None
        self._drop()
        self._alone = True
        try:
            with self._held(self.gate, fcntl.LOCK_EX), self._held(self.lock, fcntl.LOCK_EX):
                t0 = time.monotonic()
                try:
                    yield
                finally:
                    if item is not None:
                        item.user_properties.append((ALONE_KEY, time.monotonic() - t0))
        finally:
            self._alone = False
            if was_held:
                self.begin(item)

    def _drop(self) -> None:
        if self._shared is not None:
            self._shared.close()
            self._shared = None

    def _held(self, path: Path, mode: int) -> ExitStack:
        held = ExitStack()
        held.enter_context(self._taken(path, mode))
        return held

    @contextmanager
    def _taken(self, path: Path, mode: int) -> Iterator[None]:
        """``flock(path, mode)``, waited for with a deadline. A state dir this process may not
        write (another user's stack) has no lock to take: nothing of it can be stopped here."""
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            yield
            return
        try:

            def attempt() -> str | None:
                try:
                    fcntl.flock(fd, mode | fcntl.LOCK_NB)
                except BlockingIOError:
                    return "a test that stops a service holds it, or waits for it"
                return None

            try:
                wait_until(attempt, self.wait, initial=0.002, max_interval=0.02)
            except WaitTimeout as exc:
                pytest.fail(
                    f"realstack: the stack ({path}) was not free within {self.wait:.0f}s: "
                    f"{exc.last_error}",
                    pytrace=False,
                )
            yield
        finally:
            os.close(fd)  # lets go of the lock


class OutageNotIsolated(UserWarning):
    """An outage or restart in a test the plugin holds no stack for: others may meet it."""


@contextmanager
def outage(
    stack: Stack, share: StackShare | None, name: str, timeout: float | None
) -> Iterator[None]:
    """``name`` stopped for the block, the stack held alone; then started again, and the
    window ends when it and what depends on it pass their probes."""
    from realstack import orchestrator  # noqa: PLC0415 - the plugin loads lazily

    _ours(stack, share, name, "outage")
    with share.alone() if share is not None else nullcontext():
        report = orchestrator.stop(stack, only=[name])
        report.raise_for_errors()
        action = {r.name: r.action for r in report.results}.get(name)
        if action != "stopped":  # it ran as ours a moment ago: gone meanwhile
            why = f"{name} was not stopped ({action})"
            pytest.fail(f"realstack.outage({name!r}): {why}", pytrace=False)
        try:
            yield
        finally:
            with _restore(stack, share, name, "outage"):
                orchestrator.start(stack, only=[name], timeout=timeout).raise_for_errors()
                _dependents_answer(stack, name)


def restart(stack: Stack, share: StackShare | None, name: str, timeout: float | None) -> None:
    """Stop and start ``name``, the stack held alone until it and its dependents answer."""
    from realstack import orchestrator  # noqa: PLC0415

    _ours(stack, share, name, "restart")
    with (
        share.alone() if share is not None else nullcontext(),
        _restore(stack, share, name, "restart"),
    ):
        orchestrator.restart(stack, name, timeout=timeout).raise_for_errors()
        _dependents_answer(stack, name)


@contextmanager
def _restore(stack: Stack, share: StackShare | None, name: str, what: str) -> Iterator[None]:
    """Bringing ``name`` back: a failure fails the test in a few lines (no traceback through
    realstack), and is left as a note for the tests after it (:mod:`.broken`)."""
    from realstack import graph  # noqa: PLC0415
    from realstack.registry import running_ports  # noqa: PLC0415 - psutil

    test = share.item.nodeid if share is not None and share.item is not None else "a test"
    users = [s.name for s in graph.dependents(stack.services, name) if not s.is_task]
    running = running_ports(stack.state_dir, stack.instance_id, users)  # what must come back
    try:
        with broken.noted(stack, test, [name, *(u for u in users if u in running)]):
            yield
    except RealstackError as exc:
        pytest.fail(f"realstack.{what}({name!r}): {name} did not come back: {exc}", pytrace=False)


def _ours(stack: Stack, share: StackShare | None, name: str, what: str) -> None:
    """Fail the test, in one line, for what an outage or restart may not touch: a deployed
    env, a name the manifest lacks, a service this checkout does not run (stopped, or another
    process on its port: restarting would move it to another port). Warn where other tests
    are not kept out."""
    from realstack.registry import running_ports  # noqa: PLC0415 - psutil

    where = f"realstack.{what}({name!r})"
    if stack.deployed:
        pytest.fail(
            f"{where}: env {stack.env!r} is a deployed stack; realstack stops and "
            "starts nothing there",
            pytrace=False,
        )
    if name not in stack.names:
        pytest.fail(
            f"{where}: the manifest has no service {name!r} (it has {', '.join(stack.names)})",
            pytrace=False,
        )
    svc = stack.service(name)
    if not svc.is_task and name not in running_ports(stack.state_dir, stack.instance_id, [name]):
        pytest.fail(
            f"{where}: {name} does not run as this checkout's (`invoke services.status` says "
            f"what is on port {svc.port}); realstack stops only what it started here",
            pytrace=False,
        )
    if share is None or share.item is None:
        warnings.warn(
            f"{where} in a test that holds no share of the stack (not a strict test: under "
            "e2e/ or integration/, or marked so): other tests, in other xdist workers or "
            "runs, are not kept out of it",
            OutageNotIsolated,
            stacklevel=4,
        )


def _dependents_answer(stack: Stack, name: str) -> None:
    """Wait until every running service that depends on ``name`` passes its probe: one that
    noticed the outage may still say so, and the next test must not meet it."""
    from realstack import graph, probes  # noqa: PLC0415
    from realstack.registry import running_ports  # noqa: PLC0415 - psutil

    users = [s for s in graph.dependents(stack.services, name) if not s.is_task]
    running = running_ports(stack.state_dir, stack.instance_id, [s.name for s in users])
    for svc in users:
        if svc.name not in running:
            continue
        try:
            wait_until(probes.check_for(svc), svc.startup_timeout)
        except WaitTimeout as exc:
            pytest.fail(
                f"realstack: {svc.name} depends on {name} and did not pass its probe within "
                f"{svc.startup_timeout:.0f}s after {name} came back: {exc.last_error}",
                pytrace=False,
            )
