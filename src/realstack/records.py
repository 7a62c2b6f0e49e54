"""Ownership records: ``services/<name>.json``, one per running service, and their only reader
and writer.

A record says which instance started what, in the terms of the provider that started it: a
process (pid + create time) or a container (id + compose project + service). It also keeps the
settings the service was started with, so a changed manifest is noticed instead of reused.

A record never widens what may be signalled: providers derive that from the instance. A record
of another instance (a copied checkout, a forged file) reads as :data:`FOREIGN_RECORD`; a file
that is not a record reads as absent.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from realstack.state import InstancePaths, StateDirError, make_dir, move_aside, write_atomic

Settings = dict[str, str]  # what the service was started with, as compared for drift


@dataclass(frozen=True)
class ProcessRecord:
    """A process tree started by the native (or fake) provider."""

    service: str
    instance: str
    provider: str
    pid: int
    create_time: float
    port: int
    argv: tuple[str, ...] = ()
    user: str | None = None
    settings: Settings = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    ready_seconds: float | None = None
    start_ticks: int | None = None  # since boot: no clock step moves it (see realstack.started)
    boot_id: str | None = None


@dataclass(frozen=True)
class ContainerRecord:
    """A container started by the docker provider: identified by id, never by a host pid."""

    service: str
    instance: str
    provider: str
    container_id: str
    project: str
    compose_service: str
    port: int
    settings: Settings = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    ready_seconds: float | None = None


Record = ProcessRecord | ContainerRecord


class _ForeignRecord:
    """A well-formed record that names another instance: stale here, whatever it says."""

    def __repr__(self) -> str:
        return "FOREIGN_RECORD"


FOREIGN_RECORD: Final = _ForeignRecord()


def _typed(data: dict[str, Any]) -> Record | None:
    common_ok = (
        isinstance(data.get("service"), str)
        and isinstance(data.get("instance"), str)
        and type(data.get("port")) is int
        and isinstance(data.get("settings", {}), dict)
        and all(isinstance(v, str) for v in data.get("settings", {}).values())
        and isinstance(data.get("started_at", 0.0), int | float)
        and isinstance(data.get("ready_seconds") or 0.0, int | float)
    )
    if not common_ok:
        return None
    if "container_id" in data:
        if not all(isinstance(data.get(k), str) for k in ("container_id", "project")):
            return None
        return ContainerRecord(**data)
    argv = data.get("argv", [])
    ok = (
        type(data.get("pid")) is int
        and data["pid"] > 0
        and isinstance(data.get("create_time"), int | float)
        and isinstance(argv, list)
        and all(isinstance(a, str) for a in argv)
        and isinstance(data.get("user"), str | None)
        and type(data.get("start_ticks")) in (int, type(None))
        and isinstance(data.get("boot_id"), str | None)
    )
    return ProcessRecord(**{**data, "argv": tuple(argv)}) if ok else None


class Records:
    """The records of one instance."""

    def __init__(self, paths: InstancePaths, instance_id: str) -> None:
        self.paths = paths
        self.instance_id = instance_id

    def read(self, service: str) -> Record | _ForeignRecord | None:
        """This instance's record of ``service``; ``None`` if absent or unusable."""
        path = self.paths.record(service)
        try:
            if not path.is_file():  # absent, or a directory / FIFO (opening one would block)
                return None
            data = json.loads(path.read_text())
            record = _typed(data) if isinstance(data, dict) else None
        except (OSError, ValueError, TypeError):
            return None
        if record is None or record.service != service:
            return None
        return record if record.instance == self.instance_id else FOREIGN_RECORD

    def write(self, record: Record) -> None:
        """Write ``record`` atomically; a damaged state directory is a StateDirError."""
        make_dir(self.paths.services)
        self._sweep(record.service)
        text = json.dumps(asdict(record), indent=2)  # tuples (argv) become JSON lists
        write_atomic(self.paths.record(record.service), text + "\n")

    def _sweep(self, service: str) -> None:
        """Temp files a writer SIGKILLed mid-write left (callers hold the instance lock)."""
        for leftover in self.paths.services.glob(f".{service}.json.*"):
            if leftover.is_file() and not leftover.is_symlink():
                leftover.unlink(missing_ok=True)

    def delete(self, service: str) -> None:
        """Remove the record of ``service`` (absent is fine). Something else at its path (a
        directory) is a StateDirError naming it: never removed here, it may be someone's."""
        path = self.paths.record(service)
        if self.paths.services.is_dir():
            self._sweep(service)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            what = "is a directory" if path.is_dir() else f"cannot be removed ({exc.strerror})"
            raise StateDirError(
                path,
                f"{what}, where realstack keeps the record of {service}",
                move_aside(path),
            ) from None
