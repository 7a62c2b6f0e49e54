"""``services.prune`` of a deleted checkout whose stack runs in docker (issue #13): its
container records went with the checkout, so its containers are found on the engine by the
instance's labels, stopped and removed — and only those; another instance's stay."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Project, docker_client, free_port, of_compose_project, throwaway_project
from integration.test_cli import TASKS_PY, clean_environ, invoke_ok
from realstack.providers.docker import INSTANCE_LABEL

pytestmark = pytest.mark.docker

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


def labelled(project: str) -> dict[str, dict[str, str]]:
    """Container id → labels, of one compose project."""
    with docker_client() as client:
        found = client.containers.list(all=True, filters=of_compose_project(project))
        return {c.id: c.labels for c in found}


def test_prune_removes_a_deleted_checkouts_containers_and_nothing_else(
    two: tuple[Project, Project, dict[str, str]],
) -> None:
    a, b, env = two
    invoke_ok(a, env, "services.start", "--wait")
    invoke_ok(b, env, "services.start", "--wait")
    a_project, b_project = a.compose_project(), b.compose_project()
    a_id = a.stack().instance_id
    a_before, b_before = labelled(a_project), labelled(b_project)
    assert len(a_before) == 1 and len(b_before) == 1
    assert [labels[INSTANCE_LABEL] for labels in a_before.values()] == [a_id]

    shutil.rmtree(a.root)  # the checkout, its records with it; its container still runs

    done = invoke_ok(b, env, "services.prune")

    assert "checkout gone" in done.stdout and "✓ 1 pruned" in done.stdout, done.stdout
    assert labelled(a_project) == {}
    assert labelled(b_project) == b_before  # the other instance's container untouched
    with docker_client() as client:
        assert client.containers.get(next(iter(b_before))).status == "running"
        volumes = client.volumes.list(filters=of_compose_project(a_project))
        assert volumes, "prune removed the gone instance's volumes: only asked for containers"
        for volume in volumes:  # this test's own: cleared here, not by prune
            volume.remove(force=True)
    rows = invoke_ok(b, env, "services.list", "--json").stdout
    assert str(a.root) not in rows
    assert not a.root.exists()  # nothing made again where the checkout was
    invoke_ok(b, env, "services.stop")
