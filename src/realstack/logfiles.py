"""A native service's log file, apart from the native provider: reading where a service's
output is (a test's log marks, a failure's tail) must not load the process machinery."""

from __future__ import annotations

import functools
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from realstack.state import tail


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
