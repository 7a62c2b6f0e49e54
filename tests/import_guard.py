"""What a realstack command imports, asked of a fresh interpreter (issue #15).

A warm start, ``services.status`` and ``env.show`` run on every dev loop and nox session; a
client library a command does not use costs it more than its own work. This is a behavioural
spec (which modules load), not a timing: the times are in ``nox -s bench``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

# Client libraries and engine parts no read-only command needs while nothing asks for them.
CLIENTS = ("psycopg", "redis", "httpx", "docker", "filelock", "psutil")
ENGINE = (
    "realstack.orchestrator",
    "realstack.salvage",
    "realstack.scaffold",
    "realstack.staging.run",
)

_REPORT = """
import atexit, json, runpy, sys
watched = json.loads(sys.argv[1])
atexit.register(lambda: print("\\nLOADED " + json.dumps([m for m in watched if m in sys.modules])))
sys.argv = ["invoke", *sys.argv[2:]]
runpy.run_module("invoke", run_name="__main__")
"""


def loaded_by(
    cwd: Path,
    argv: list[str],
    watched: tuple[str, ...],
    env: Mapping[str, str] | None = None,
    code: int = 0,
) -> set[str]:
    """Which of ``watched`` ``invoke <argv>`` had imported when it exited (with ``code``)."""
    done = subprocess.run(
        [sys.executable, "-c", _REPORT, json.dumps(watched), *argv],
        cwd=cwd,
        env=dict(os.environ if env is None else env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == code, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    line = done.stdout.rsplit("\nLOADED ", 1)[-1]
    return set(json.loads(line))
