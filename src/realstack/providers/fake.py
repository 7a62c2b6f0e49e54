"""A scripted in-memory provider for unit tests of everything above the seam.

Each service follows a :class:`Script` (fail to start, exit with a code, become ready after
some polls, fail to stop); ``events`` records what the orchestrator asked for, in order.
Nothing runs and nothing is signalled: it is a unit seam, never a stand-in for a service.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from realstack.errors import RealstackError, StopFailed
from realstack.model import Service, Stack
from realstack.providers import Absent, Exited, Found, Orphan, Ours, Stale
from realstack.records import ProcessRecord, Record, Settings
from realstack.waiting import Check


@dataclass(frozen=True)
class Script:
    """How one fake service behaves."""

    ready_after: int = 0  # readiness polls that fail first
    exit_code: int | None = None  # set: the process "exits" right after it starts
    start_error: RealstackError | None = None
    stop_error: bool = False
    lines: tuple[str, ...] = ()  # what it "logs" when it starts
    listens: tuple[tuple[str, int], ...] = ()  # where its "process" listens


@dataclass
class MemoryLogs:
    lines: list[str] = field(default_factory=list)
    source: str = "memory"

    def mark(self) -> float:
        return float(len(self.lines))

    def tail(self, lines: int, since: float | None = None) -> list[str]:
        return self.lines[int(since or 0) :][-lines:] if lines > 0 else []

    def follow(self, lines: int) -> None:
        print("\n".join(self.tail(lines)))


@dataclass
class FakeHandle:
    record: ProcessRecord
    logs: MemoryLogs
    script: Script
    polls: int = 0
    stopped: bool = False

    def exited(self) -> Exited | None:
        if self.stopped or self.script.exit_code is not None:
            return Exited(self.script.exit_code)
        return None

    def listening(self) -> list[tuple[str, int]]:
        return list(self.script.listens)

    def not_ready(self) -> str | None:
        self.polls += 1
        if self.polls <= self.script.ready_after:
            return f"warming up ({self.polls}/{self.script.ready_after})"
        return None


class FakeProvider:
    """Runs nothing; remembers what would run."""

    name = "fake"

    def __init__(self, stack: Stack, scripts: dict[str, Script] | None = None) -> None:
        self.stack = stack
        self.scripts = dict(scripts or {})
        self.running: dict[str, FakeHandle] = {}
        self.orphans: set[str] = set()
        self.occupied: dict[str, str] = {}  # service → who "holds" its port
        self.events: list[tuple[str, str]] = []
        self.logs_of: dict[str, MemoryLogs] = {}
        self._pids = itertools.count(10_000)
        self._lock = threading.Lock()

    def _note(self, what: str, name: str) -> None:
        with self._lock:
            self.events.append((what, name))

    def preflight(self, services: Sequence[Service]) -> None:
        self._note("preflight", ",".join(s.name for s in services))

    def find(self, svc: Service, record: Record | None) -> Found:
        handle = self.running.get(svc.name)
        if record is None and handle is not None and handle.exited() is not None:
            handle = None  # ended, and its record forgotten (a task that ran): nothing left
        same = (
            isinstance(record, ProcessRecord)
            and handle is not None
            and ((handle.record.pid, handle.record.create_time) == (record.pid, record.create_time))
        )
        if same and handle is not None and isinstance(record, ProcessRecord):
            handle.record = record  # as the real providers do: the handle carries the record
            return Ours(handle)
        if handle is not None or svc.name in self.orphans:
            return Orphan("fake process without a record")
        return Stale(record) if record is not None else Absent()

    def start(self, svc: Service, env: dict[str, str], settings: Settings) -> FakeHandle:
        self._note("start", svc.name)
        script = self.scripts.get(svc.name, Script())
        if script.start_error is not None:
            raise script.start_error
        logs = self.logs(svc)
        logs.lines.extend(script.lines)
        record = ProcessRecord(
            service=svc.name,
            instance=self.stack.instance_id,
            provider=self.name,
            pid=next(self._pids),
            create_time=0.0,
            port=svc.port,
            settings=settings,
        )
        handle = FakeHandle(record, logs, script)
        with self._lock:
            self.running[svc.name] = handle
        return handle

    def probe(self, svc: Service) -> Check:
        return lambda: None

    def occupant(self, svc: Service) -> str | None:
        return self.occupied.get(svc.name)

    def stop(self, svc: Service, found: Ours | Orphan) -> None:
        self._note("stop", svc.name)
        if self.scripts.get(svc.name, Script()).stop_error:
            raise StopFailed(f"{svc.name}: fake stop failure", provider=self.name, service=svc.name)
        with self._lock:
            handle = self.running.pop(svc.name, None)
            self.orphans.discard(svc.name)
        if handle is not None:
            handle.stopped = True

    def purge(self, svc: Service) -> list[str]:
        self._note("purge", svc.name)
        return [f"fake data of {svc.name}"]

    def finish(self, services: Sequence[Service], *, purge: bool) -> list[str]:
        self._note("finish", ",".join(s.name for s in services))
        return []

    def logs(self, svc: Service) -> MemoryLogs:
        with self._lock:
            return self.logs_of.setdefault(svc.name, MemoryLogs(source=f"memory:{svc.name}"))
