"""The test stack the e2e suite shares: where it is, and the lock that lets a test stop one
of its services while no other test uses it.

Standard library only: the conftest imports this in every process, the xdist controller
included, which runs no test (the clients the tests use load with the test modules).
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from realstack.waiting import WaitTimeout, wait_until

ROOT = Path(__file__).resolve().parents[2]  # the realstack project whose test stack we use
ENV = "test"
HTTP_TIMEOUT = 10.0  # seconds, every HTTP call
STACK_LOCK_TIMEOUT = 120.0  # for the tests on the same stack to let one test stop a service


class StackLock:
    """A readers-writer lock over one test stack, across processes (xdist workers, other runs).

    Every test holds it shared; a test that stops a service (test_resilience) holds it
    exclusively, so no other test, in this worker or any other, meets the outage. ``flock`` does
    not queue: a stream of readers could starve the writer, so a writer first takes the
    ``gate`` exclusively, which new readers must pass (shared, for an instant) before reading.
    """

    def __init__(self, instance_id: str) -> None:
        base = Path(tempfile.gettempdir()) / f"realstack-e2e-{instance_id}"
        self.gate = base.with_suffix(".gate")
        self.main = base.with_suffix(".lock")

    @contextmanager
    def held(self, *, exclusive: bool, timeout: float = STACK_LOCK_TIMEOUT) -> Iterator[None]:
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        with ExitStack() as gate:
            gate.enter_context(_locked(self.gate, mode, timeout, "the stack's gate"))
            with _locked(self.main, mode, timeout, "the stack"):
                if not exclusive:
                    gate.close()  # a reader only passes the gate; a writer keeps it shut
                yield


@contextmanager
def _locked(path: Path, mode: int, timeout: float, what: str) -> Iterator[int]:
    """``flock(path, mode)``, waited for with a deadline (realstack's poll loop, short steps)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:

        def attempt() -> str | None:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
            except BlockingIOError:
                return f"{what} is held by a test that stops a service, or waits for one"
            return None

        try:
            wait_until(attempt, timeout, initial=0.002, max_interval=0.02)
        except WaitTimeout as exc:
            pytest.fail(f"{what}: not free within {timeout:.0f}s: {exc.last_error}")
        yield fd
    finally:
        os.close(fd)  # releases the lock
