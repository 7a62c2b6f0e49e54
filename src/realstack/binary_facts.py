"""What a server binary says about itself (``--version``, ``--describe-config``), kept per user.

The answer changes only with the file, and asking costs a process start (15 ms for
``postgres --version`` here) that every ``services.status``, and every start of a PostgreSQL
with ``settings``, would pay again. Keyed by path, size and modification time: an upgraded
binary is asked again. Advisory, like the registry beside it: a file that cannot be read or
written costs the question, never the command.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path

from realstack.registry import home
from realstack.state import StateDirError, write_atomic

KEPT = 32  # answers kept (a few servers, a few versions each)


def _key(question: str, binary: str) -> str | None:
    try:
        st = Path(binary).stat()
    except OSError:
        return None
    return f"{question} {binary} {st.st_size} {st.st_mtime_ns}"


def _read() -> dict[str, str]:
    try:
        raw = json.loads((home() / "binaries.json").read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {str(k): v for k, v in raw.items() if isinstance(v, str)}


def remembered(question: str, binary: str, ask: Callable[[], str]) -> str:
    """``ask()``'s answer about ``binary``, from the file when this very file was asked
    before; an empty answer (the binary said nothing) is not kept."""
    key = _key(question, binary)
    if key is None:
        return ask()
    known = _read()
    if key in known:
        return known[key]
    answer = ask()
    if answer:
        known[key] = answer
        kept = dict(list(known.items())[-KEPT:])
        with contextlib.suppress(OSError, StateDirError):
            home().mkdir(mode=0o700, parents=True, exist_ok=True)
            write_atomic(home() / "binaries.json", json.dumps(kept, indent=1) + "\n")
    return answer
