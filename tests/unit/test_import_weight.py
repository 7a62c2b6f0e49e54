"""The CLI loads what it runs: invoke imports ``realstack.tasks`` for every command, and a
``services.status`` / ``env.show`` of a stack that is down loads no client library and no
engine part it does not use (issue #15). Subprocesses; nothing is started."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from import_guard import CLIENTS, ENGINE, loaded_by

MANIFEST = textwrap.dedent(
    """\
    [tool.realstack]
    default_env = "test"
    provider = "native"
    [tool.realstack.services.db]
    kind = "postgres"
    port = 15998
    user = "u"
    password = "p"
    database = "d"
    [tool.realstack.services.cache]
    kind = "redis"
    port = 16998
    [tool.realstack.services.analytics]
    kind = "clickhouse"
    profiles = ["analytics"]
    port = 18123
    user = "u"
    password = "p"
    database = "d"
    [tool.realstack.services.api]
    kind = "process"
    port = 18998
    command = ["{python}", "-m", "api"]
    probe = { kind = "http", path = "/health" }
    """
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """postgres, redis and an HTTP-probed process, none running; invoke's tasks.py."""
    (tmp_path / "pyproject.toml").write_text(MANIFEST)
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / "test.env").write_text("")
    (tmp_path / "tasks.py").write_text("from realstack.tasks import namespace as ns\n")
    return tmp_path


def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REALSTACK_")}
    return {**env, "REALSTACK_HOME": str(tmp_path / "registry")}


def test_importing_the_tasks_loads_no_client_and_no_engine() -> None:
    """What every invoke command pays before it runs: the task definitions, no more."""
    watched = (*CLIENTS, *ENGINE, "realstack.status", "realstack.providers.native")
    code = f"import sys, realstack.tasks; print([m for m in {watched!r} if m in sys.modules])"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("argv", "code"),
    [(["services.status"], 0), (["services.status", "--json"], 0), (["env.show"], 1)],
)
def test_a_read_only_command_on_a_stopped_stack_loads_no_client(
    project: Path, tmp_path: Path, argv: list[str], code: int
) -> None:
    """Nothing that talks to a server. psutil may load (ownership is proven by process). No
    docker either, though the manifest names a container (ClickHouse, in a profile): an
    instance that never created one searches no engine for it (``engine-used``), and where
    a container's ports are published is read without the docker provider's package.
    (``env.show`` fails: nothing runs, so there is no contract to give.)"""
    watched = (*(m for m in (*CLIENTS, *ENGINE) if m != "psutil"), "realstack.providers.docker")
    assert loaded_by(project, argv, watched, clean_env(tmp_path), code) == set()
