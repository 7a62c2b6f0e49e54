"""`realstack init` in a fresh git project, then the stack it describes, for real.

The two commands init prints must work as printed: `invoke services.start --wait` brings up
PostgreSQL, Redis and (when init found one) the app, all healthy; git sees none of the state;
`invoke services.stop` leaves nothing running. Ports come from the OS through the environment,
which overrides the env files init wrote (as it does for any user).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Project, throwaway_project
from integration._support import distinct_free_ports, processes_owned_by
from integration.test_cli import (
    INVOKE,
    REALSTACK,
    clean_environ,
    console_script,
    lines_with,
    succeeded,
)

pytestmark = pytest.mark.integration

STARLETTE_APP = """\
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def health(request):
    return PlainTextResponse("ok")


app = Starlette(routes=[Route("/health", health)])
"""
APPS = {"no app": None, "a starlette app": STARLETTE_APP}


def run(
    root: Path, *argv: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=root,
        env={**clean_environ(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def fresh() -> Iterator[Project]:
    """An empty git repository (throwaway: stopped and checked for leftovers at the end)."""
    with throwaway_project("realstack-init-", "native") as project:
        succeeded(run(project.root, "git", "init", "-q"))
        yield project


@pytest.mark.parametrize("app", list(APPS))
def test_init_then_start_gives_a_healthy_stack_that_git_does_not_see(
    fresh: Project, app: str
) -> None:
    root = fresh.root
    if APPS[app] is not None:
        (root / "app").mkdir()
        (root / "app" / "main.py").write_text(str(APPS[app]))
    services = ["postgres", "redis"] + (["app"] if APPS[app] else [])

    done = succeeded(run(root, REALSTACK, "init"))
    assert done.stdout.splitlines()[-3:] == [
        "next:",
        "  invoke services.start --wait",
        "  pytest tests/e2e",
    ]

    ports = dict(
        zip(
            ("POSTGRES_PORT", "REDIS_PORT", "APP_PORT"),
            map(str, distinct_free_ports(3)),
            strict=True,
        )
    )
    started = succeeded(run(root, INVOKE, "services.start", "--wait", env=ports))
    for name in services:
        assert lines_with(started.stdout, name, "ready"), started.stdout
    status = json.loads(succeeded(run(root, INVOKE, "services.status", "--json", env=ports)).stdout)
    assert {r["name"]: r["state"] for r in status["services"]} == dict.fromkeys(services, "ours")
    assert all(r["health"] == "healthy" for r in status["services"])

    # the second next step: the starter e2e tests pass against the stack just started
    tested = run(
        root, sys.executable, "-m", "pytest", "tests/e2e", "-q", "-p", "no:valkey", env=ports
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "2 passed" in tested.stdout

    untracked = run(root, "git", "status", "--porcelain", "--untracked-files=all").stdout
    assert ".realstack" not in untracked
    assert "?? pyproject.toml" in untracked.splitlines()

    succeeded(run(root, INVOKE, "services.stop", env=ports))
    assert processes_owned_by(root) == []


def test_init_twice_changes_nothing_and_invoke_init_is_the_same_task(fresh: Project) -> None:
    """The second run (through invoke, via the tasks.py the first wrote) only says "exists"."""
    root = fresh.root
    succeeded(run(root, REALSTACK, "init"))
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and ".git" not in p.parts}

    again = succeeded(run(root, INVOKE, "init"))

    after = {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and ".git" not in p.parts}
    assert after == before
    verbs = {line.split()[0] for line in again.stdout.splitlines()[1:-3]}
    assert verbs <= {"exists", "note"}, again.stdout


def test_the_noxfile_init_wrote_lists_its_e2e_session(fresh: Project) -> None:
    """nox itself reads the noxfile (no session is run)."""
    succeeded(run(fresh.root, REALSTACK, "init"))
    listed = succeeded(run(fresh.root, console_script("nox"), "--list", "-f", "noxfile.py"))
    assert "e2e" in listed.stdout.split()
