"""The sharded CI workflow holds no logic of its own: each of its commands is one that
`nox -s shards` runs here too (the matrix job's `nox -s e2e -- --splits --group` and the
last job's `nox -s verify-shards`), and the sessions it names exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "e2e-shards.yml"
SET_UP = ("pip install", "sudo apt-get install")  # installing, as README command 1 does


def run_steps() -> list[str]:
    return [m.strip() for m in re.findall(r"^\s*(?:- )?run: (.+)$", WORKFLOW.read_text(), re.M)]


def test_every_step_is_set_up_or_a_command_the_local_run_executes() -> None:
    steps = run_steps()
    tested = [s for s in steps if not s.startswith(SET_UP)]

    assert tested == [
        'nox -s e2e -- --splits "$SPLITS" --group "${{ matrix.group }}"',
        "nox -s verify-shards -- shard-results",
    ]


def test_the_sessions_the_workflow_names_exist_and_shards_runs_the_same_commands() -> None:
    noxfile = (ROOT / "noxfile.py").read_text()
    for session in ("def e2e(", 'name="verify-shards"', "def shards("):
        assert session in noxfile
    shards = noxfile[noxfile.index("def shards(") :]
    assert "_shard_command(splits, group, [])" in shards  # what `e2e -- --splits` runs
    assert '"realstack.shards", "verify", SHARD_RESULTS' in shards  # what verify-shards runs
