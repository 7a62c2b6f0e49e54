"""Child output read by a thread, millisecond polling and failure excerpts.

Shared by the starter (killed mid-write: the reader must never block the kill) and the victim.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import IO

from realstack.waiting import WaitTimeout, wait_until


def wait_for(check: Callable[[], bool], timeout: float, what: str = "condition") -> bool:
    """Poll ``check`` every millisecond or two (aimed kills need that); False on timeout."""
    try:
        wait_until(lambda: None if check() else what, timeout, initial=0.001, max_interval=0.002)
    except WaitTimeout:
        return False
    return True


def tail(text: str, lines: int = 12) -> str:
    """The last ``lines`` of ``text``, indented under a failure line."""
    return "\n      | ".join(["", *text.strip().splitlines()[-lines:]])


class Output:
    """Everything a child writes to one pipe, read by a thread (so a kill never blocks)."""

    def __init__(self, pipe: IO[bytes], on_data: Callable[[str], None] | None = None) -> None:
        self._pipe = pipe
        self._chunks: list[bytes] = []
        self._lock = threading.Lock()
        self._on_data = on_data
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        fd = self._pipe.fileno()
        while chunk := os.read(fd, 65536):
            with self._lock:
                self._chunks.append(chunk)
            if self._on_data is not None:
                self._on_data(self.text())

    def text(self) -> str:
        with self._lock:
            return b"".join(self._chunks).decode(errors="replace")

    def close(self) -> None:
        self._thread.join(10)
        self._pipe.close()
