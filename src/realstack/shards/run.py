"""One shard: its own instance of the stack (``shard-<group>``, so shards on one machine never
share a service or a port), pytest with pytest-split's ``--splits``/``--group`` and a shard
report, then a stop of only what this shard started. What a CI matrix job runs, and what
``nox -s shards`` runs N times at once here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from realstack import orchestrator
from realstack.cli_support import ProgressLines
from realstack.manifest import load_stack
from realstack.results import Action
from realstack.secrets import secret_values


def instance_for(group: int) -> str:
    return f"shard-{group}"


def report_path(out: Path, group: int) -> Path:
    return out / f"shard-{group}.json"


def run_shard(
    splits: int, group: int, out: Path, env: str | None, pytest_args: Sequence[str]
) -> int:
    """Start, test, stop; pytest's exit code (1 when the stack did not come up)."""
    environ = dict(os.environ)
    environ.setdefault("REALSTACK_INSTANCE", instance_for(group))
    stack = load_stack(env=env, environ=environ)
    tag = f"shard {group}/{splits}"
    print(f"{tag}: instance {stack.instance} of env {stack.env} ({stack.state_dir})", flush=True)
    started = orchestrator.start(stack, progress=ProgressLines(secret_values(stack)))
    # what ran before the shard (restarted for drift or not) keeps running after it
    ours = [r.name for r in started.results if r.action == Action.STARTED]
    try:
        if not started.ok:
            print(f"{tag}: the stack did not come up; no test ran", file=sys.stderr)
            return 1
        argv = [
            sys.executable,
            "-m",
            "pytest",
            *pytest_args,
            f"--splits={splits}",
            f"--group={group}",
            f"--realstack-env={stack.env}",
            f"--realstack-shard-report={report_path(out, group)}",
        ]
        return subprocess.run(argv, env=environ, check=False).returncode
    finally:
        if ours:
            orchestrator.stop(stack, only=ours)
