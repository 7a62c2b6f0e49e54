"""Ctrl-C, SIGTERM and SIGHUP during a start: what the start launched is stopped, all of it,
and what is said afterwards is what happened.

A CI runner's cancel and ``timeout`` send SIGTERM, a closed terminal SIGHUP; Python turns only
SIGINT into an exception, so the others killed a start without its rollback (outside tester
F-8). While a rollback runs, a second Ctrl-C (people press it twice) interrupted the rollback
itself and left services running under "what this run started was stopped" (F-1): now it is
noted and the rollback finishes. Signal handlers belong to the main thread: elsewhere (a start
from a worker thread of the API's user) these do nothing.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from types import FrameType
from typing import Any

from realstack.results import Action, ServiceResult

_ENDING = (signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """A signal ended the run; ``signum`` says which (exit code ``128 + signum``)."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class StartInterrupted(Interrupted):
    """A start was interrupted; ``rollback`` holds what stopping its services gave."""

    def __init__(self, signum: int, rollback: tuple[ServiceResult, ...]) -> None:
        super().__init__(signum)
        self.rollback = rollback

    def outcome(self) -> str:
        """What is left: nothing, or the services whose rollback failed."""
        left = [r.name for r in self.rollback if r.action == Action.FAILED]
        if not left:
            return "what this run started was stopped"
        return f"still running: {', '.join(left)} (stop it: `invoke services.stop`)"


def signum_of(exc: BaseException) -> int:
    return exc.signum if isinstance(exc, Interrupted) else signal.SIGINT


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def ending_signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`Interrupted`, as SIGINT raises KeyboardInterrupt."""
    if not _main_thread():
        yield
        return

    def interrupt(signum: int, _frame: FrameType | None) -> None:
        raise Interrupted(signum)

    # an ignored one stays ignored: `nohup` (SIGHUP) asked for the run to outlive the terminal
    ending = [s for s in _ENDING if signal.getsignal(s) is not signal.SIG_IGN]
    before = {s: signal.signal(s, interrupt) for s in ending}
    try:
        yield
    finally:
        _restore(before)


@contextlib.contextmanager
def held_off() -> Iterator[list[int]]:
    """SIGINT, SIGTERM and SIGHUP are noted (the list yielded), not raised, until the block
    ends: a rollback runs to its end, and the run then ends as interrupted anyway. Nothing is
    printed from the handler: it may run while the main thread holds the progress lock."""
    heard: list[int] = []
    if not _main_thread():
        yield heard
        return

    def hold(signum: int, _frame: FrameType | None) -> None:
        heard.append(signum)

    before = {s: signal.signal(s, hold) for s in (signal.SIGINT, *_ENDING)}
    try:
        yield heard
    finally:
        _restore(before)


_Handler = Callable[[int, FrameType | None], Any] | int | None


def _restore(before: Mapping[signal.Signals, _Handler]) -> None:
    for s, handler in before.items():  # None: set outside Python; the default is what it was
        signal.signal(s, signal.SIG_DFL if handler is None else handler)
