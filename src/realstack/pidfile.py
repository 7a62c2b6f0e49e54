"""Ownership records: atomic JSON pidfiles and the ours/stale identity check (psutil).

A record is *ours* only while a live process has the recorded pid AND create_time. Anything
else is stale: the record goes, the pid is never signalled (it may belong to someone else now).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

_CREATE_TIME_TOLERANCE = 0.01  # psutil reports create_time rounded to clock ticks


@dataclass(frozen=True)
class Record:
    """What realstack knows about a process it started."""

    service: str
    pid: int
    create_time: float
    argv: tuple[str, ...]
    port: int
    provider: str
    marker: str
    started_at: float = field(default_factory=time.time)
    user: str | None = None
    ready_seconds: float | None = None  # spawn → first passing probe, once known

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "argv": list(self.argv)}


def write_atomic(path: Path, text: str) -> None:
    """Write via a temp file in the same directory and rename, so readers never see half.

    No fsync: the rename is atomic for every process, which is what these files guard
    against (a starter killed mid-write); after a power loss no recorded process exists anyway.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write(path: Path, record: Record) -> None:
    write_atomic(path, json.dumps(record.to_json(), indent=2) + "\n")


def read(path: Path) -> Record | None:
    """The record at ``path``; ``None`` if absent or unusable (an unusable one is stale)."""
    try:
        data = json.loads(path.read_text())
        record = Record(**{**data, "argv": tuple(data["argv"])})
    except (OSError, ValueError, TypeError, KeyError):
        return None
    valid = (
        type(record.pid) is int
        and record.pid > 0
        and isinstance(record.create_time, int | float)
        and isinstance(data["argv"], list)
        and all(isinstance(a, str) for a in record.argv)
        and isinstance(record.marker, str)
        and (record.ready_seconds is None or isinstance(record.ready_seconds, int | float))
    )
    return record if valid else None


def process_of(record: Record) -> psutil.Process | None:
    """The live process this record describes, or ``None`` if the record is stale."""
    try:
        proc = psutil.Process(record.pid)
        if abs(proc.create_time() - record.create_time) > _CREATE_TIME_TOLERANCE:
            return None  # pid reused by another process: never touch it
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    return proc
