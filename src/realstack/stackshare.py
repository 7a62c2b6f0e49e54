"""The stack shared by the tests that use it, and held alone by whatever stops a service.

Under xdist every worker runs against one stack, and so does a second run of the same
checkout, and `invoke services.restart` from a terminal. A test that stops a service (the
plugin's ``realstack.outage("auth")``) or a restart from the CLI breaks whatever a test runs
meanwhile. So every strict test of a local stack holds the stack *shared*, from before its
first fixture to after its last teardown, and an outage or a restart holds it *alone*, for its
window only. The plugin's side (which test holds it, a deadline that fails the test) is
:mod:`realstack.pytest_plugin.stackshare`; the CLI's is ``services.restart``.

A readers-writer lock over ``flock(2)`` on two files in the instance's state dir. ``flock``
does not queue, so a stream of readers could starve a writer: a writer first shuts the
``gate`` (exclusive), which a reader passes (shared, for an instant) before it reads. An
outage lets go of its test's shared hold before it waits at the gate, so two outages cannot
wait on each other, and no reader waits while it holds. The writer writes who it is into the
gate, so whoever waits says for whom.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

from realstack.errors import RealstackError
from realstack.waiting import WaitTimeout, wait_until

WAIT = 600.0  # for the stack: an outage waits for the tests using it, they for its restart
TELL_EVERY = 5.0  # seconds between "waiting for the stack" lines
# set in a process whose tests hold the stack: a restart it runs (`invoke services.restart`
# from a test) would wait for its own caller's hold, so it does not wait
HELD_VAR = "REALSTACK_TESTS_HOLD"

Tell = Callable[[float, str], None]  # (seconds waited, for whom): a line for whoever waits


class StackBusy(RealstackError):
    """The stack stayed held (by an outage, a restart, or tests) past the wait's deadline."""


class StackShare:
    """This process's hold on the stack: shared while a test runs, alone for an outage.

    Taken and let go around every strict test, so the common case is a few system calls: an
    ``flock`` that is free is taken at once; only one that is held waits (with a deadline,
    saying for whom every few seconds through ``tell``)."""

    def __init__(self, state_dir: Path, wait: float = WAIT, tell: Tell | None = None) -> None:
        self.gate = state_dir / "tests.gate"
        self.lock = state_dir / "tests.lock"
        self._gate, self._lock = os.fspath(self.gate), os.fspath(self.lock)
        self.wait = wait
        self.tell = tell
        self._shared: int | None = None  # the fd holding the lock shared
        self._alone = False

    @property
    def held_by_caller(self) -> bool:
        """This process runs under tests that hold this stack (a restart from inside a
        test): taking it alone would wait for its own caller."""
        return self._shared is None and os.environ.get(HELD_VAR) == self._lock

    def mark_held(self) -> None:
        """Say, to the processes this one starts, that its tests hold this stack."""
        os.environ[HELD_VAR] = self._lock

    def begin(self) -> None:
        """Hold the stack shared (a strict test, from its setup on; the session's preflight)."""
        self._take_shared()

    def end(self) -> None:
        """Let go (after the test's last teardown)."""
        self._drop()

    @property
    def is_alone(self) -> bool:
        return self._alone

    @contextmanager
    def alone(self, holder: str) -> Iterator[None]:
        """The stack to this caller only: no test, in any worker or run of this checkout,
        uses it meanwhile. The caller's shared hold is let go first and taken again after;
        inside another outage, the stack is already the caller's. ``holder`` (who, for what)
        goes into the gate, for whoever waits at it to say."""
        if self._alone:  # an outage inside an outage: the stack is this caller's already
            yield
            return
        was_held = self._shared is not None
        self._drop()
        self._alone = True
        try:
            with ExitStack() as held:
                held.callback(_let_go, self._flock(self._gate, fcntl.LOCK_EX, holder))
                held.callback(_let_go, self._flock(self._lock, fcntl.LOCK_EX))
                yield
        finally:
            self._alone = False
            if was_held:
                self._take_shared()

    def _take_shared(self) -> None:
        if self._shared is None:
            gate = self._flock(self._gate, fcntl.LOCK_SH)  # a reader only passes the gate
            try:
                self._shared = self._flock(self._lock, fcntl.LOCK_SH)
            finally:
                _let_go(gate)

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
        (the gate's holder wrote who it is); :class:`StackBusy` at the deadline."""

        def attempt() -> str | None:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
            except BlockingIOError:
                if path == self._lock:
                    return "tests of this checkout use it (each holds it while it runs)"
                return os.pread(fd, 500, 0).decode(errors="replace") or "an outage holds it"
            return None

        try:
            wait_until(
                attempt,
                self.wait,
                initial=0.002,
                max_interval=0.02,
                on_tick=self.tell,
                tick_every=TELL_EVERY,
            )
        except WaitTimeout as exc:
            raise StackBusy(
                f"the stack ({path}) was not free within {self.wait:.0f}s: {exc.last_error}"
            ) from None


def _let_go(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)  # lets go of the lock
