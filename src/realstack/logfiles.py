"""A native service's log file, apart from the native provider: reading where a service's
output is (a test's log marks, a failure's tail) must not load the process machinery."""

from __future__ import annotations

import functools
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

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
    except OSError:  # not there yet, or the state directory is damaged (said elsewhere)
        return []
    found = chunk.splitlines()
    if pos > start and chunk.count(b"\n") > lines:
        found = found[1:]  # the chunk begins mid-line and enough whole lines follow
    return [line.decode(errors="replace") for line in found[-lines:]]


@dataclass(frozen=True)
class FileLogs:
    """A service's log file: everything its processes printed, appended across runs."""

    path: Path

    @functools.cached_property
    def source(self) -> str:
        return str(self.path)

    def mark(self) -> float:
        """The log's current size (0 before it exists): taken for every strict test, so one
        ``stat`` of the path string and no pathlib on the way."""
        try:
            return float(os.stat(self.source).st_size)  # noqa: PTH116 - see above
        except OSError:
            return 0.0

    def tail(self, lines: int, since: float | None = None) -> list[str]:
        return tail(self.path, lines, int(since or 0))

    def follow(self, lines: int) -> None:
        # tail(1) is the tool made for following a file; Ctrl-C ends it.
        subprocess.run(["tail", "-n", str(lines), "-F", str(self.path)], check=False)
