"""What start and stop return: one result per service, as values (errors included), and the
progress events they emit on the way."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from realstack.errors import RealstackError


class Event(enum.StrEnum):
    """Progress events (printed as their value by the tasks)."""

    STARTING = "starting"
    WAITING = "waiting"
    READY = "ready"
    COMPLETED = "completed"  # a task exited 0
    UP_TO_DATE = "up-to-date"  # a task whose last successful run is still current
    REUSED = "reused"
    DRIFT = "drift"
    STALE = "stale"
    ORPHANS = "orphans"
    NOTE = "note"
    LOCK = "lock"
    ROLLBACK = "rollback"
    STOPPING = "stopping"
    STOPPED = "stopped"
    NOT_RUNNING = "not-running"
    FAILED = "failed"
    PURGED = "purged"
    DOWN = "down"
    EXTERNAL = "external"  # a deployed env's service: realstack leaves it alone


Progress = Callable[[str, Event, str], None]  # (service, event, detail)


def quiet(service: str, event: Event, detail: str) -> None:
    """Default progress: say nothing."""


class Action(enum.StrEnum):
    STARTED = "started"
    RESTARTED = "restarted"  # it ran before this start, and had drifted from the manifest
    REUSED = "reused"
    COMPLETED = "completed"  # a task ran and exited 0
    UP_TO_DATE = "up-to-date"  # a task did not need to run again
    FAILED = "failed"
    CANCELLED = "cancelled"
    ROLLED_BACK = "rolled-back"
    STOPPED = "stopped"
    NOT_RUNNING = "not-running"
    STALE = "stale"
    EXTERNAL = "external"  # a deployed env's service: nothing started or stopped


@dataclass(frozen=True)
class ServiceResult:
    name: str
    action: Action
    pid: int | None = None
    port: int | None = None
    seconds: float = 0.0  # spawn → ready (start) or signal → gone (stop)
    error: RealstackError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Report:
    results: tuple[ServiceResult, ...]
    seconds: float
    rollback: tuple[ServiceResult, ...] = ()  # what a failed start stopped again, and how

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def errors(self) -> list[RealstackError]:
        """The operation's errors, then any the rollback met (never hiding the first)."""
        return [r.error for r in (*self.results, *self.rollback) if r.error is not None]

    def raise_for_errors(self) -> None:
        if self.errors:
            raise self.errors[0]
