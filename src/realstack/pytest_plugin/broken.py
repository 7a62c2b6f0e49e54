"""An outage that did not end: the test whose service (or a dependent) did not come back,
named to every test after it.

``realstack.outage``/``restart`` start the service again and wait for it and what depends on
it. When that fails, the outage test fails; and every test after it, in any worker or the
next run, would fail too: each after its own timeouts, each as a plain infrastructure
failure, none naming the cause. So a failed restore leaves a note in the instance's state dir
(written while the stack is still held alone, so no test runs before it is there). A strict
test that needs a service that is not healthy while the note is there fails at once, in
setup, citing it; the note goes once every service it names answers again (after
``invoke services.start --wait``, say), or when ``invoke services.stop`` stops the stack: what
is down then is down on purpose.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from realstack.model import Stack
from realstack.state import InstancePaths, StateDirError, write_atomic


@dataclass(frozen=True)
class Broken:
    test: str  # the outage's test (nodeid)
    services: tuple[str, ...]  # what did not come back: the service, then its dependents
    why: str

    def cite(self) -> str:
        return f"{self.test} took {self.services[0]} away and it did not come back: {self.why}"


@functools.cache
def _note(state_dir: Path) -> str:
    return os.fspath(InstancePaths(state_dir).tests_broken)


def read(state_dir: Path) -> Broken | None:
    """The note, if a failed restore left one (one failed open per strict test otherwise)."""
    try:
        with open(_note(state_dir), encoding="utf-8") as note:  # noqa: PTH123 - per test: no Path
            raw = json.load(note)
        return Broken(str(raw["test"]), tuple(str(s) for s in raw["services"]), str(raw["why"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


@contextlib.contextmanager
def noted(stack: Stack, test: str, services: list[str]) -> Iterator[None]:
    """Leave the note when the block (the restore) fails, however it fails, then go on
    failing: a restore cut short by Ctrl-C leaves the stack as broken as one that timed out."""
    try:
        yield
    except BaseException as exc:
        why = str(exc).strip().partition("\n")[0] or type(exc).__name__  # the test has the rest
        note = {"test": test, "services": services, "why": why}
        with contextlib.suppress(StateDirError):  # a note is advice: never the real error
            write_atomic(InstancePaths(stack.state_dir).tests_broken, json.dumps(note) + "\n")
        raise


def check(stack: Stack, names: list[str]) -> None:
    """A strict test's setup: fail it now, citing the note, when a service it needs is not
    healthy; drop the note once what it names answers again."""
    note = read(stack.state_dir)
    if note is None:
        return
    from realstack.pytest_plugin.policy import unhealthy  # noqa: PLC0415 - only with a note

    failures = unhealthy(stack, names)
    if not failures:
        if not unhealthy(stack, [n for n in note.services if n in stack.names]):
            with contextlib.suppress(OSError):
                InstancePaths(stack.state_dir).tests_broken.unlink()
        return
    down = "; ".join(f"{name}: {error}" for name, error in failures.items())
    pytest.fail(
        f"realstack: not run, the stack is broken ({down}) since {note.cite()}. "
        f"`invoke services.start --wait --env {stack.env}` brings it back.",
        pytrace=False,
    )


def since(stack: Stack, nodeid: str | None = None) -> str:
    """``" (since <test> took …)"`` for a failure's or the preflight's message, when a note
    from another test is there; else nothing."""
    note = read(stack.state_dir)
    if note is None or note.test == nodeid:
        return ""
    return f" (since {note.cite()})"
