"""The provider seam: what every provider (native, docker, fake …) does, and nothing more.

The lifecycle code (orchestrator, status, tasks, the pytest plugin) talks to providers only
through :class:`Provider`, :class:`Handle` and :class:`Logs`, and gets providers only from
:mod:`realstack.providers.placement`. Three decisions are made here once, for every caller:

- ``find`` says whether a service is ours (a live :class:`Ours` handle), an :class:`Orphan`
  (marked processes or a labelled container without a live record: ours to stop), a
  :class:`Stale` record (nothing of ours matches it: remove it, signal nothing) or
  :class:`Absent`;
- ``start`` returns a :class:`Handle` that readiness, reports and records use;
- ``stop`` stops what ``find`` found, and only that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from realstack.model import Service
from realstack.records import Record, Settings
from realstack.waiting import Check


@dataclass(frozen=True)
class Exited:
    """The service's process or container has ended (``code`` when known)."""

    code: int | None


class Logs(Protocol):
    """One service's output, wherever it lives (a log file, a container's log)."""

    @property
    def source(self) -> str:
        """Where the lines come from, for messages."""
        ...

    def mark(self) -> float:
        """A position to read from later: now (cheap: called before every test)."""
        ...

    def tail(self, lines: int, since: float | None = None) -> list[str]:
        """The last ``lines`` lines, only those written after ``since`` when given."""
        ...

    def follow(self, lines: int) -> None:
        """Print the last ``lines`` lines, then new ones until interrupted."""
        ...


class Handle(Protocol):
    """A started (or found running) service: what readiness, status and reports need."""

    @property
    def record(self) -> Record: ...

    @property
    def logs(self) -> Logs: ...

    def exited(self) -> Exited | None:
        """Whether it has ended (checked on every readiness poll)."""
        ...

    def not_ready(self) -> str | None:
        """The provider's own objection (container health …); ``None``: ask the probe."""
        ...

    def listening(self) -> list[tuple[str, int]]:
        """Where its processes listen, when the provider can see it (else ``[]``): a service
        that answers on another port than the manifest's is named, not just timed out."""
        ...


@dataclass(frozen=True)
class Ours:
    handle: Handle


@dataclass(frozen=True)
class Orphan:
    """Ours without a live record: marked processes or a labelled container."""

    detail: str
    pid: int | None = None


@dataclass(frozen=True)
class Stale:
    """A record nothing of ours matches any more: remove it, never signal because of it."""

    record: Record


@dataclass(frozen=True)
class Absent:
    pass


Found = Ours | Orphan | Stale | Absent


class Provider(Protocol):
    """One way of running services (process-compose's Commander, chosen once per service)."""

    @property
    def name(self) -> str: ...

    def preflight(self, services: Sequence[Service]) -> None:
        """Raise :class:`~realstack.errors.ProviderUnavailable` if it cannot work here."""
        ...

    def find(self, svc: Service, record: Record | None) -> Found:
        """Read-only: the one "is it ours?" decision start, stop and status share."""
        ...

    def start(self, svc: Service, env: dict[str, str], settings: Settings) -> Handle:
        """Start ``svc``; its handle carries the record to keep (written by the caller)."""
        ...

    def probe(self, svc: Service) -> Check:
        """The readiness check for ``svc`` as this provider reaches it."""
        ...

    def occupant(self, svc: Service) -> str | None:
        """Who else answers on ``svc``'s port: ``None`` if free, "" if it cannot tell."""
        ...

    def stop(self, svc: Service, found: Ours | Orphan) -> None:
        """Stop what ``find`` found; raise :class:`~realstack.errors.StopFailed` if it stays."""
        ...

    def purge(self, svc: Service) -> list[str]:
        """Delete the stopped service's data; say what went."""
        ...

    def finish(self, services: Sequence[Service], *, purge: bool) -> list[str]:
        """After a stop or rollback: shared leftovers (a compose network); say what went."""
        ...

    def logs(self, svc: Service) -> Logs:
        """The service's output (also after it stopped, where the provider keeps it)."""
        ...
