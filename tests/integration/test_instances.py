"""The machine's instances: every checkout's stack is listed from any checkout, and one whose
checkout was deleted while it ran is stopped by ``services.prune`` — only what bears its own
marks — and forgotten, leaving every other stack alone."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Project, free_port, owned_by, throwaway_project
from integration.test_cli import TASKS_PY, clean_environ, invoke_ok

pytestmark = pytest.mark.integration

SERVERS = Path(__file__).with_name("_servers.py")
MANIFEST = """
[tool.realstack]
provider = "native"
[tool.realstack.services.cache]
kind = "redis"
port = {cache}
[tool.realstack.services.web]
kind = "process"
port = {web}
command = ["{{python}}", "{servers}", "health", "{{port}}"]
probe = {{ kind = "http", path = "/health" }}
"""


@pytest.fixture
def registry_home(tmp_path: Path) -> dict[str, str]:
    """A registry of this test's own (the machine's real one is left alone)."""
    return {**clean_environ(), "XDG_STATE_HOME": str(tmp_path / "state-home")}


@pytest.fixture
def two(registry_home: dict[str, str]) -> Iterator[tuple[Project, Project]]:
    with throwaway_project("realstack-inst-a-") as a, throwaway_project("realstack-inst-b-") as b:
        for proj in (a, b):
            text = MANIFEST.format(cache=free_port(), web=free_port(), servers=SERVERS)
            (proj.root / "pyproject.toml").write_text(text)
            (proj.root / "tasks.py").write_text(TASKS_PY)
        yield a, b


def listed(project: Project, env: dict[str, str]) -> dict[str, dict[str, Any]]:
    rows = json.loads(invoke_ok(project, env, "services.list", "--json").stdout)
    return {row["root"]: row for row in rows}


def test_every_instance_is_listed_from_any_checkout(
    two: tuple[Project, Project], registry_home: dict[str, str]
) -> None:
    a, b = two
    invoke_ok(a, registry_home, "services.start", "--wait")
    invoke_ok(b, registry_home, "services.start", "--wait")

    rows = listed(b, registry_home)

    assert {rows[str(p.root)]["state"] for p in (a, b)} == {"running"}
    assert set(rows[str(a.root)]["ports"]) == {"cache", "web"}
    invoke_ok(a, registry_home, "services.stop")
    assert listed(b, registry_home)[str(a.root)]["state"] == "stopped"  # its lease lives on


def test_prune_stops_and_forgets_a_deleted_checkouts_stack_and_nothing_else(
    two: tuple[Project, Project], registry_home: dict[str, str]
) -> None:
    a, b = two
    invoke_ok(a, registry_home, "services.start", "--wait")
    invoke_ok(b, registry_home, "services.start", "--wait")
    a_root, b_before = str(a.root), {p.pid for p in owned_by(b.root)}
    assert owned_by(a_root)
    shutil.rmtree(a.root)  # the checkout, its state and records with it; its stack still runs
    assert listed(b, registry_home)[a_root]["state"] == "checkout gone"

    done = invoke_ok(b, registry_home, "services.prune")

    assert "checkout gone" in done.stdout
    assert owned_by(a_root) == []
    assert {p.pid for p in owned_by(b.root)} == b_before  # the other stack untouched
    assert a_root not in listed(b, registry_home)
    assert not Path(a_root).exists()  # nothing made again where the checkout was
    invoke_ok(b, registry_home, "services.stop")
