"""The identity handshake: a service that answers for another checkout's instance is named as
such — by a start that needs its port, and by a test run before its first test."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Project, free_port, throwaway_project
from integration.test_cli import INVOKE, TASKS_PY, clean_environ

pytestmark = pytest.mark.integration

SERVERS = Path(__file__).with_name("_servers.py")
MANIFESTS = {
    "app": """
[tool.realstack]
provider = "native"
[tool.realstack.services.web]
kind = "process"
port = %d
command = ["{python}", "%s", "health", "{port}"]
probe = { kind = "http", path = "/health" }
""",
    # the same credentials in both checkouts: B's probe passes on A's server, only the
    # handshake can tell them apart
    "postgres": """
[tool.realstack]
provider = "native"
[tool.realstack.services.web]
kind = "postgres"
port = %d
user = "ident"
password = "ident-pw"
database = "ident"
durable = false
""",
    "redis": """
[tool.realstack]
provider = "native"
[tool.realstack.services.web]
kind = "redis"
port = %d
durable = false
""",
}
TEST = """
import socket


def test_web(service_urls):
    socket.create_connection(("127.0.0.1", %d)).close()
"""


@pytest.fixture(params=sorted(MANIFESTS))
def a_and_b(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Project, Project, dict[str, str], int]]:
    """Two checkouts whose manifests name the same literal port (an app, PostgreSQL or
    Redis); A's stack runs."""
    env = {**clean_environ(), "XDG_STATE_HOME": str(tmp_path / "state-home")}
    port = free_port()
    manifest = MANIFESTS[request.param]
    manifest = manifest % ((port, SERVERS) if "%s" in manifest else port)
    with throwaway_project("realstack-id-a-") as a, throwaway_project("realstack-id-b-") as b:
        for proj in (a, b):
            (proj.root / "pyproject.toml").write_text(manifest)
            (proj.root / "tasks.py").write_text(TASKS_PY)
        run(a, env, INVOKE, "services.start", "--wait")
        yield a, b, env, port
        run(a, env, INVOKE, "services.stop")


def run(project: Project, env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=project.root, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_a_start_names_the_checkout_whose_service_holds_the_port(
    a_and_b: tuple[Project, Project, dict[str, str], int],
) -> None:
    a, b, env, port = a_and_b

    done = run(b, env, INVOKE, "services.start", "--wait")

    assert done.returncode == 1
    assert f"port {port} is already in use" in done.stderr
    assert f"realstack instance of {a.root} (env test)" in done.stderr


def test_a_test_run_fails_before_its_first_test_naming_the_other_checkout(
    a_and_b: tuple[Project, Project, dict[str, str], int],
) -> None:
    a, b, env, port = a_and_b
    (b.root / "e2e").mkdir()
    (b.root / "e2e" / "test_web.py").write_text(TEST % port)

    done = run(b, env, sys.executable, "-m", "pytest", "e2e", "-p", "no:valkey", "-q")

    assert done.returncode == 1, done.stdout
    assert f"answers for another realstack instance of {a.root}" in done.stdout
    assert "1 passed" not in done.stdout
