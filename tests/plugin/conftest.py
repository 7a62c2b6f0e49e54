"""Plugin tests: a real inner pytest process (pytester) against a throwaway realstack project.

The inner run loads the plugin through its ``pytest11`` entry point, imported from this
repository's ``src`` (put first on PYTHONPATH, so the plugin under test is the one beside these
tests, whatever copy of realstack is installed). Its tests live under ``e2e/`` and so are
strict; they use the plugin's fixtures against real PostgreSQL and Redis.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from conftest import Project, free_port, owned_by, provider_under_test, throwaway_project
from realstack.status import status

SRC = Path(__file__).resolve().parents[2] / "src"
# an HTTP server's handler for the inner projects' app scripts (``import http.server`` first):
# 200 on every GET, nothing logged per request
HEALTH_HANDLER = """
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass
"""
SERVICES = ("postgres", "redis")
PASSWORD = "plugin s3cret@:/%"  # needs URL quoting; must never be printed
MANIFEST = """
[tool.realstack.services.postgres]
kind = "postgres"
port = "${POSTGRES_PORT}"
user = "${POSTGRES_USER}"
password = "${POSTGRES_PASSWORD}"
database = "${POSTGRES_DB}"
durable = "false"

[tool.realstack.services.redis]
kind = "redis"
port = "${REDIS_PORT}"
database = "2"
durable = "false"
"""
INNER_FLAGS = (
    "-p",
    "no:valkey",
    "-p",
    "no:benchmark",
    "-p",
    "no:cacheprovider",
    "-o",
    "realstack_suites=e2e",
)
INNER_TIMEOUT = 120.0


def write_manifest(project: Project) -> Project:
    """The postgres + redis manifest, on two different free ports; the credentials in the env
    file, where the compose file finds them too."""
    pg_port = free_port()
    redis_port = free_port()
    while redis_port == pg_port:
        redis_port = free_port()
    return project.write(
        MANIFEST,
        {
            "POSTGRES_PORT": str(pg_port),
            "REDIS_PORT": str(redis_port),
            "POSTGRES_USER": "plugin_user",
            "POSTGRES_PASSWORD": PASSWORD,
            "POSTGRES_DB": "plugin_db",
        },
    )


def owned_processes(root: Path) -> list[psutil.Process]:
    """Live processes of the project at ``root`` (see :func:`conftest.owned_by`)."""
    return owned_by(root)


def states(project: Project) -> dict[str, str]:
    """Service name → realstack's view of it (ours, down, foreign …)."""
    return {row.name: row.state for row in status(project.stack())}


def bring_up(project: Project) -> None:
    """Start what is missing of the project's stack; fail the outer test if that fails."""
    report = project.start()
    assert report.ok, report.errors


def bring_down(project: Project, *names: str) -> None:
    """Stop ``names`` (default: everything) of the project's stack."""
    report = project.stop(only=list(names) or None)
    assert report.ok, report.errors


def source(text: str) -> str:
    return textwrap.dedent(text).lstrip()


class Inner:
    """Writes an inner test tree into pytester's directory and runs pytest on it."""

    def __init__(self, pytester: pytest.Pytester, project: Project) -> None:
        self.pytester = pytester
        self.project = project

    @property
    def path(self) -> Path:
        return self.pytester.path

    def write(self, relpath: str, text: str) -> Path:
        """A file (``e2e/test_x.py``, ``conftest.py`` …) under the inner run's root."""
        target = self.path / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source(text))
        return target

    def args(self, *extra: str) -> list[str]:
        # "--opt=value": a separate value of a plugin option is taken for a path argument
        # while pytest picks its rootdir (plugins' options are not known yet at that point)
        return [f"--realstack-root={self.project.root}", *INNER_FLAGS, *extra]

    def run(self, *extra: str) -> pytest.RunResult:
        """pytest in a separate process, the plugin loaded from its entry point."""
        return self.pytester.runpytest_subprocess(*self.args(*extra), timeout=INNER_TIMEOUT)


@pytest.fixture(scope="module")
def stack_project() -> Iterator[Project]:
    """One throwaway postgres + redis project per module (the template cluster is built once),
    in containers under ``REALSTACK_PROVIDER=docker`` (``nox -s docker``), else native.

    Each test states the stack it needs (``bring_up`` / ``bring_down``) before its inner run.
    Afterwards nothing of it may be left: no process, container, volume or network.
    """
    with throwaway_project("realstack-ptest-", provider_under_test()) as proj:
        yield write_manifest(proj)


@pytest.fixture
def inner_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment of inner runs: this repository's ``src`` first on PYTHONPATH."""
    paths = [str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    for name in (
        "REALSTACK_ENV",
        "REALSTACK_RETRY_INFRA",
        "REALSTACK_ALLOW_FLAKY",
        "REALSTACK_RETRY_WAIT",
        "PYTEST_XDIST_WORKER",
        "PYTEST_ADDOPTS",
        "REALSTACK_TESTS_HOLD",  # set where the outer run's tests hold a stack
    ):
        monkeypatch.delenv(name, raising=False)
    return dict(os.environ)


@pytest.fixture
def inner(pytester: pytest.Pytester, stack_project: Project, inner_env: dict[str, str]) -> Inner:
    """An inner pytest run against the module's project."""
    return Inner(pytester, stack_project)
