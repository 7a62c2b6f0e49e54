"""The per-instance state directory: ``.realstack/<instance>/`` and the paths inside it."""

from __future__ import annotations

import os
import tempfile
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

    def log(self, service: str) -> Path:
        return self.logs / f"{service}.log"

    def data_for(self, service: str) -> Path:
        return self.data / service

    def ensure(self) -> None:
        """Create the tree, private to this user (0700)."""
        for path in (self.base, self.root, self.services, self.logs, self.data):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)


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


_TAIL_BLOCK = 8192
_TAIL_MAX_BYTES = 1 << 20  # a log tail never reads more than this from the end


def tail(path: Path, lines: int = 20, start: int = 0) -> list[str]:
    """The last ``lines`` whole lines written after byte ``start`` (a run's own output).

    Reads backwards in blocks until it has enough lines (at most 1 MiB), so a huge log costs
    little and long lines come out whole.
    """
    if lines <= 0:
        return []
    chunk = b""
    try:
        with path.open("rb") as fh:
            pos = fh.seek(0, os.SEEK_END)
            while pos > start and chunk.count(b"\n") <= lines and len(chunk) < _TAIL_MAX_BYTES:
                step = min(_TAIL_BLOCK, pos - start)
                pos -= step
                fh.seek(pos)
                chunk = fh.read(step) + chunk
    except FileNotFoundError:
        return []
    found = chunk.splitlines()
    if pos > start and chunk.count(b"\n") > lines:
        found = found[1:]  # the chunk begins mid-line and enough whole lines follow
    return [line.decode(errors="replace") for line in found[-lines:]]


def size_of(path: Path) -> int:
    """Current size of a file, 0 if it does not exist yet (a log's offset before a run)."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
