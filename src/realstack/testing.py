"""Test doubles for code built on realstack: a clock that only moves when slept on, and the
scripted fake provider. Unit seams only; never a stand-in for a service in an e2e claim."""

from __future__ import annotations

import threading

from realstack.providers.fake import FakeProvider, MemoryLogs, Script
from realstack.providers.placement import Placement
from realstack.waiting import Clock

__all__ = ["FakeClock", "FakeProvider", "MemoryLogs", "Placement", "Script"]


class FakeClock:
    """Time stands still except when the code under test sleeps (from any thread)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.start = start
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise AssertionError(f"negative sleep {seconds}")
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds

    @property
    def clock(self) -> Clock:
        """The :class:`~realstack.waiting.Clock` to hand to the code under test."""
        return Clock(now=lambda: self.now, sleep=self.sleep)

    @property
    def elapsed(self) -> float:
        return self.now - self.start
