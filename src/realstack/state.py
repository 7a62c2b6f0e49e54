"""The per-instance state directory: ``.realstack/<instance>/`` and the paths inside it."""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class InstancePaths:
    """Where one instance keeps its lock, records, logs, data and env contract."""

    root: Path

    @property
    def base(self) -> Path:
        """The state base shared by all instances (holds cached templates)."""
        return self.root.parent

    @property
    def lock(self) -> Path:
        return self.root / "lock"

    @property
    def services(self) -> Path:
        return self.root / "services"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def templates(self) -> Path:
        return self.base / "_templates"

    @property
    def runtime_env(self) -> Path:
        return self.root / "runtime.env"

    @property
    def runtime_json(self) -> Path:
        return self.root / "runtime.json"

    def record(self, service: str) -> Path:
        return self.services / f"{service}.json"

    def intent(self, service: str) -> Path:
        """Present from just before a spawn until its record is written (crash evidence)."""
        return self.services / f"{service}.starting"

    def log(self, service: str) -> Path:
        return self.logs / f"{service}.log"

    def data_for(self, service: str) -> Path:
        return self.data / service

    def ensure(self) -> None:
        """Create the tree, private to this user (0700)."""
        for path in (self.base, self.root, self.services, self.logs, self.data):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)


def tail(path: Path, lines: int = 20, start: int = 0) -> list[str]:
    """The last ``lines`` lines of a log file written after byte ``start`` (a run's own output).

    Reads at most 256 bytes a line back from the end, so a huge log costs nothing; a single
    line longer than that may show cut at its front.
    """
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(start, size - 256 * lines))
            kept: deque[bytes] = deque(fh.read().splitlines(), maxlen=lines)
    except FileNotFoundError:
        return []
    return [line.decode(errors="replace") for line in kept]


def size_of(path: Path) -> int:
    """Current size of a file, 0 if it does not exist yet (a log's offset before a run)."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
