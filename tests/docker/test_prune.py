"""``services.prune`` of a deleted checkout whose stack runs in docker (issue #13): its
container records went with the checkout, so its containers are found on the engine by the
instance's labels, stopped and removed — and only those; another instance's stay."""

from __future__ import annotations

import importlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Project, free_port, throwaway_project
from integration.test_cli import INVOKE, TASKS_PY, clean_environ
from realstack.providers.docker import INSTANCE_LABEL, PROJECT_LABEL

pytestmark = pytest.mark.docker

_sdk: Any = importlib.import_module("docker")

MANIFEST = """
[tool.realstack.services.redis]
kind = "redis"
port = "${REDIS_PORT}"
startup_timeout = 60
"""


@pytest.fixture
def two(tmp_path: Path) -> Iterator[tuple[Project, Project, dict[str, str]]]:
    """Two docker checkouts sharing a registry of this test's own."""
    environ = {**clean_environ(), "XDG_STATE_HOME": str(tmp_path / "state-home")}
    with (
        throwaway_project("realstack-prune-a-", "docker") as a,
        throwaway_project("realstack-prune-b-", "docker") as b,
    ):
        for proj in (a, b):
            proj.write(MANIFEST, {"REDIS_PORT": str(free_port())})
            (proj.root / "tasks.py").write_text(TASKS_PY)
        yield a, b, environ


def cli(project: Project, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [INVOKE, *args],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def labelled(project: str) -> dict[str, dict[str, str]]:
    """Container id → labels, of one compose project."""
    client = _sdk.from_env(timeout=30)
    try:
        found = client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={project}"})
        return {c.id: c.labels for c in found}
    finally:
        client.close()


def test_prune_removes_a_deleted_checkouts_containers_and_nothing_else(
    two: tuple[Project, Project, dict[str, str]],
) -> None:
    a, b, env = two
    cli(a, env, "services.start", "--wait")
    cli(b, env, "services.start", "--wait")
    a_project, b_project = a.compose_project(), b.compose_project()
    a_id = a.stack().instance_id
    a_before, b_before = labelled(a_project), labelled(b_project)
    assert len(a_before) == 1 and len(b_before) == 1
    assert [labels[INSTANCE_LABEL] for labels in a_before.values()] == [a_id]

    shutil.rmtree(a.root)  # the checkout, its records with it; its container still runs

    done = cli(b, env, "services.prune")

    assert "checkout gone" in done.stdout and "✓ 1 pruned" in done.stdout, done.stdout
    assert labelled(a_project) == {}
    assert labelled(b_project) == b_before  # the other instance's container untouched
    client = _sdk.from_env(timeout=30)
    try:
        assert client.containers.get(next(iter(b_before))).status == "running"
        volumes = client.volumes.list(filters={"label": f"{PROJECT_LABEL}={a_project}"})
        assert volumes, "prune removed the gone instance's volumes: only asked for containers"
        for volume in volumes:  # this test's own: cleared here, not by prune
            volume.remove(force=True)
    finally:
        client.close()
    rows = cli(b, env, "services.list", "--json").stdout
    assert str(a.root) not in rows
    assert not a.root.exists()  # nothing made again where the checkout was
    cli(b, env, "services.stop")
