"""What every operation on an instance shares: the one exception → error conversion and the
instance lock (held while starting or stopping; a concurrent run waits, then reuses)."""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Iterator

from realstack.errors import LockTimeout, RealstackError
from realstack.results import Event, Progress
from realstack.state import InstancePaths, keep_traceback
from realstack.waiting import Clock, WaitTimeout, wait_until

# The name of a result (and progress line) about the operation itself, not one service: a
# start whose env contract could not be written fails as a whole and is rolled back.
OPERATION = "realstack"


def as_error(service: str, exc: BaseException, paths: InstancePaths) -> RealstackError:
    """The one exception → error conversion: unexpected ones keep their traceback in a file
    (the message says where, or why it could not be kept)."""
    if isinstance(exc, RealstackError):
        return exc
    try:
        kept = f"traceback in {keep_traceback(paths, ''.join(traceback.format_exception(exc)))}"
    except OSError as why:
        kept = f"traceback not kept: {why.strerror or why}"
    error = RealstackError(f"{service}: unexpected {type(exc).__name__}: {exc} ({kept})")
    error.__cause__ = exc
    return error


@contextlib.contextmanager
def locked(
    paths: InstancePaths, timeout: float, progress: Progress, clock: Clock
) -> Iterator[None]:
    """The instance lock; while another run holds it, say so every few seconds."""
    from filelock import FileLock, Timeout  # noqa: PLC0415 - a warm start takes no lock

    paths.ensure()
    lock = FileLock(paths.lock)

    def attempt() -> str | None:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return f"another realstack run holds {paths.lock}"
        return None

    def tick(elapsed: float, why: str) -> None:
        progress("realstack", Event.LOCK, f"{elapsed:.0f}s/{timeout:g}s: {why}; waiting")

    try:
        wait_until(attempt, timeout, clock=clock, on_tick=tick)
    except WaitTimeout:
        raise LockTimeout(
            f"another realstack run holds {paths.lock} (waited {timeout:g}s)"
        ) from None
    try:
        yield
    finally:
        lock.release()
