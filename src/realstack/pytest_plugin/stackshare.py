"""The plugin's hold on the stack (:mod:`realstack.stackshare`): which test holds it, how
long its outages held it alone, a wait that says so on a serial run's terminal, and a deadline
that fails the test rather than raising through pytest.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from realstack import stackshare
from realstack.stackshare import WAIT, StackBusy

ALONE_KEY = "realstack_alone_seconds"  # a test's user_properties: to xdist's controller, junitxml


class StackShare(stackshare.StackShare):
    """Shared for the strict test that runs (``item``), alone for its outage."""

    def __init__(self, state_dir: Path, wait: float = WAIT, terminal: Any = None) -> None:
        super().__init__(state_dir, wait, tell=self._tell)
        self.terminal = terminal  # pytest's terminal reporter: says why a test waits (or None)
        self.item: pytest.Item | None = None
        self.mark_held()  # a restart run from a test does not wait for that test

    def begin(self, item: pytest.Item | None = None) -> None:
        self.item = item
        super().begin()

    def end(self) -> None:
        self.item = None
        super().end()

    @contextmanager
    def alone(self, holder: str) -> Iterator[None]:
        """``holder``: why (``an outage of auth``); the gate says which test and pid. The
        seconds held go into the test's ``user_properties`` (the run's summary adds them)."""
        item, nested = self.item, self.is_alone
        test = f"{item.nodeid} " if item is not None else ""
        with super().alone(f"{test}(pid {os.getpid()}) holds it alone for {holder}"):
            t0 = time.monotonic()
            try:
                yield
            finally:
                if item is not None and not nested:
                    item.user_properties.append((ALONE_KEY, time.monotonic() - t0))

    def _wait_for(self, fd: int, path: str, mode: int) -> None:
        try:
            super()._wait_for(fd, path, mode)
        except StackBusy as exc:
            pytest.fail(f"realstack: {exc}", pytrace=False)

    def _tell(self, elapsed: float, last_error: str) -> None:
        if self.terminal is not None:  # flushed: a CI log (a pipe) shows it now
            self.terminal.ensure_newline()
            self.terminal.write(
                f"realstack: waiting for the stack ({elapsed:.0f}s, up to "
                f"{self.wait:.0f}s): {last_error}\n",
                flush=True,
            )
