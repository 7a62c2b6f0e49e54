"""The stack shared by the tests that use it, and held alone by a test that stops a service.

Under xdist every worker runs against one stack, and so does a second run of the same
checkout. A test that stops a service (``with realstack.outage("auth"):``, see
:mod:`.outages`) breaks whatever another worker runs meanwhile. So every strict test of a
local stack holds the stack *shared*, from before its first fixture to after its last
teardown, and an outage holds it *alone*, for its window only.

A readers-writer lock over ``flock(2)`` on two files in the instance's state dir. ``flock``
does not queue, so a stream of readers could starve a writer: a writer first shuts the
``gate`` (exclusive), which a reader passes (shared, for an instant) before it reads. An
outage lets go of its test's shared hold before it waits at the gate, so two outages cannot
wait on each other, and no reader waits while it holds. The writer writes who it is into the
gate, so a run that waits (a serial run's terminal, every few seconds) says for whom.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

from realstack.waiting import WaitTimeout, wait_until

WAIT = 600.0  # for the stack: an outage waits for the tests using it, they for its restart
TELL_EVERY = 5.0  # seconds between "waiting for the stack" lines (a serial run's terminal)
ALONE_KEY = "realstack_alone_seconds"  # a test's user_properties: to xdist's controller, junitxml


class StackShare:
    """This process's hold on the stack: shared for the test that runs, alone for an outage.

    Taken and let go around every strict test, so the common case is a few system calls: an
    ``flock`` that is free is taken at once; only one that is held waits (with a deadline,
    saying for whom)."""

    def __init__(self, state_dir: Path, wait: float = WAIT, terminal: Any = None) -> None:
        self.gate = state_dir / "tests.gate"
        self.lock = state_dir / "tests.lock"
        self._gate, self._lock = os.fspath(self.gate), os.fspath(self.lock)
        self.wait = wait
        self.terminal = terminal  # pytest's terminal reporter: says why a test waits (or None)
        self.item: pytest.Item | None = None
        self._shared: int | None = None  # the fd holding the lock shared
        self._alone = False

    def begin(self, item: pytest.Item | None = None) -> None:
        """Hold the stack shared (a strict test, from its setup on; the session's preflight)."""
        self.item = item
        if self._shared is None:
            gate = self._flock(self._gate, fcntl.LOCK_SH)  # a reader only passes the gate
            try:
                self._shared = self._flock(self._lock, fcntl.LOCK_SH)
            finally:
                _let_go(gate)

    def end(self) -> None:
        """Let go (after the test's last teardown)."""
        self.item = None
        self._drop()

    @contextmanager
    def alone(self, why: str) -> Iterator[None]:
        """The stack to this caller only: no other test, in any worker or run of this
        checkout, uses it meanwhile. The caller's shared hold is let go first and taken
        again after; inside another outage, the stack is already the caller's. ``why`` goes
        into the gate, for whoever waits at it to say."""
        if self._alone:  # an outage inside an outage: the stack is this caller's already
            yield
            return
        item, was_held = self.item, self._shared is not None
        self._drop()
        self._alone = True
        try:
            test = f"{item.nodeid} " if item is not None else ""
            holder = f"{test}(pid {os.getpid()}) holds it alone for {why}"
            with ExitStack() as held:
                held.callback(_let_go, self._flock(self._gate, fcntl.LOCK_EX, holder))
                held.callback(_let_go, self._flock(self._lock, fcntl.LOCK_EX))
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
            _let_go(self._shared)
            self._shared = None

    def _flock(self, path: str, mode: int, holder: str = "") -> int | None:
        """An fd holding ``flock(path, mode)`` (closing it lets go), waited for with a
        deadline when another holds it; ``holder`` is written into the file once it is held.
        A state dir this process may not write (another user's stack) has no lock to take:
        None, as nothing of it can be stopped here."""
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return None
        with ExitStack() as unless_held:
            unless_held.callback(os.close, fd)  # a wait that fails or is interrupted lets go
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
            except BlockingIOError:
                self._wait_for(fd, path, mode)
            unless_held.pop_all()
        if holder:
            with suppress(OSError):  # a full disk: whoever waits says less
                os.ftruncate(fd, 0)
                os.pwrite(fd, holder.encode(), 0)
        return fd

    def _wait_for(self, fd: int, path: str, mode: int) -> None:
        """Wait until ``flock(fd, mode)`` is ours, saying every few seconds what it waits for
        (the gate's holder wrote who it is); fail the test at the deadline."""

        def attempt() -> str | None:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
            except BlockingIOError:
                if path == self._lock:
                    return "tests of other workers or runs of this checkout use it"
                return os.pread(fd, 500, 0).decode(errors="replace") or "an outage holds it"
            return None

        def tell(elapsed: float, last_error: str) -> None:
            if self.terminal is not None:  # flushed: a CI log (a pipe) shows it now
                self.terminal.ensure_newline()
                self.terminal.write(
                    f"realstack: waiting for the stack ({elapsed:.0f}s, up to "
                    f"{self.wait:.0f}s): {last_error}\n",
                    flush=True,
                )

        try:
            wait_until(
                attempt,
                self.wait,
                initial=0.002,
                max_interval=0.02,
                on_tick=tell,
                tick_every=TELL_EVERY,
            )
        except WaitTimeout as exc:
            pytest.fail(
                f"realstack: the stack ({path}) was not free within {self.wait:.0f}s: "
                f"{exc.last_error}",
                pytrace=False,
            )


def _let_go(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)  # lets go of the lock
