"""A test that stops a service of the shared stack: ``realstack.outage(name)`` and
``realstack.restart(name)``.

The window runs from the stop until the service, and every running service that depends on
it, pass their probes again; for that window the stack is held alone (:mod:`.stackshare`), so
no other test, in any worker or run of this checkout, meets it. What the test does before and
after the window runs beside the other workers' tests.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import pytest

from realstack.errors import RealstackError
from realstack.model import Service, Stack
from realstack.pytest_plugin import broken
from realstack.pytest_plugin.stackshare import StackShare


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
    with share.alone(f"an outage of {name}") if share is not None else nullcontext():
        report = orchestrator.stop(stack, only=[name])
        report.raise_for_errors()
        action = {r.name: r.action for r in report.results}.get(name)
        if action != "stopped":  # it ran as ours a moment ago: gone meanwhile
            why = f"{name} was not stopped ({action})"
            pytest.fail(f"realstack.outage({name!r}): {why}", pytrace=False)
        try:
            yield
        finally:
            with _restore(stack, share, name, "outage") as users:
                orchestrator.start(stack, only=[name], timeout=timeout).raise_for_errors()
                _dependents_answer(name, users)


def restart(stack: Stack, share: StackShare | None, name: str, timeout: float | None) -> None:
    """Stop and start ``name``, the stack held alone until it and its dependents answer."""
    from realstack import orchestrator  # noqa: PLC0415

    _ours(stack, share, name, "restart")
    with (
        share.alone(f"a restart of {name}") if share is not None else nullcontext(),
        _restore(stack, share, name, "restart") as users,
    ):
        orchestrator.restart(stack, name, timeout=timeout).raise_for_errors()
        _dependents_answer(name, users)


@contextmanager
def _restore(
    stack: Stack, share: StackShare | None, name: str, what: str
) -> Iterator[list[Service]]:
    """Bringing ``name`` back, with the running services that depend on it (yielded: they
    must answer again too). A failure fails the test in a few lines (no traceback through
    realstack), and is left as a note for the tests after it (:mod:`.broken`)."""
    from realstack.restarting import running_dependents  # noqa: PLC0415

    test = share.item.nodeid if share is not None and share.item is not None else "a test"
    users = running_dependents(stack, [name])
    try:
        with broken.noted(stack, test, [name, *(s.name for s in users)]):
            yield users
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


def _dependents_answer(name: str, users: list[Service]) -> None:
    """Wait until every running service that depends on ``name`` passes its probe: one that
    noticed the outage may still say so, and the next test must not meet it."""
    from realstack.restarting import dependents_answer  # noqa: PLC0415

    failed = dependents_answer(name, users)
    if failed is not None:
        pytest.fail(f"realstack: {failed}", pytrace=False)
