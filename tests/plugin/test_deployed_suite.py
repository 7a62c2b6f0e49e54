"""A strict suite against a deployed env: what it offers is probed at its URL and tested; what
it does not offer, the destructive and the local-only tests are refused and listed, never run,
skipped or passed; nothing is started, stopped or written to."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Project, free_port
from plugin.conftest import Inner
from realstack.probes import http_check
from realstack.waiting import wait_until

SERVERS = Path(__file__).resolve().parents[1] / "integration" / "_servers.py"
MANIFEST = """
[tool.realstack.services.postgres]
kind = "postgres"
port = "${POSTGRES_PORT}"
user = "u"
database = "d"

[tool.realstack.services.backend]
kind = "process"
port = "${BACKEND_PORT}"
command = ["{python}", "-m", "backend"]
depends_on = ["postgres"]
probe = { kind = "http", path = "/health" }
exports = { BACKEND_SERVICE_URL = "http://{host}:{port}" }
"""
TESTS = """
import httpx
import pytest


def test_health(service_urls):
    assert httpx.get(service_urls["BACKEND_SERVICE_URL"] + "/health").status_code == 200


@pytest.mark.destructive
def test_wipes_data(service_urls):
    httpx.get(service_urls["BACKEND_SERVICE_URL"] + "/health")


@pytest.mark.realstack_local("restarts the backend")
def test_restarts(service_urls):
    pass


@pytest.mark.requires("postgres")
def test_reads_the_database(service_urls):
    pass


def test_uses_a_namespace(realstack_namespace):
    pass
"""


@pytest.fixture
def deployed_backend() -> Iterator[str]:
    """A real HTTP server standing in for the deployed backend."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(SERVERS), "health", str(port)])
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(http_check(url + "/health", 200, 1.0), 10.0)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def staging(project: Project, deployed_backend: str) -> Project:
    project.write(MANIFEST, {"POSTGRES_PORT": "1", "BACKEND_PORT": "2"})
    (project.root / "envs" / "staging.env").write_text(
        f"REALSTACK_DEPLOYED=true\nBACKEND_SERVICE_URL={deployed_backend}\n"
    )
    return project


def test_what_staging_cannot_take_is_refused_and_listed(
    pytester: pytest.Pytester, staging: Project
) -> None:
    inner = Inner(pytester, staging)
    inner.write("e2e/test_staging.py", TESTS)

    result = inner.run("--realstack-env=staging")

    result.assert_outcomes(passed=1, deselected=4)
    result.stdout.fnmatch_lines(
        [
            "*realstack: refused on deployed env 'staging' (4)*",
            "*test_wipes_data: destructive (--realstack-allow-destructive runs it)",
            "*test_restarts: needs the local stack (restarts the backend)",
            "*test_reads_the_database: needs postgres, which env 'staging' does not offer",
            "*test_uses_a_namespace: reaches into the stack through fixture 'realstack_namespace'",
        ]
    )
    assert not (staging.root / ".realstack").exists()  # nothing started, nothing recorded


def test_destructive_tests_run_when_asked(pytester: pytest.Pytester, staging: Project) -> None:
    inner = Inner(pytester, staging)
    inner.write("e2e/test_staging.py", TESTS)

    result = inner.run("--realstack-env=staging", "--realstack-allow-destructive")

    result.assert_outcomes(passed=2, deselected=3)


def test_a_deployed_service_that_is_down_stops_the_session_before_any_test(
    pytester: pytest.Pytester, staging: Project
) -> None:
    env = staging.root / "envs" / "staging.env"
    env.write_text(f"REALSTACK_DEPLOYED=true\nBACKEND_SERVICE_URL=http://127.0.0.1:{free_port()}\n")
    inner = Inner(pytester, staging)
    inner.write("e2e/test_staging.py", TESTS)

    result = inner.run("--realstack-env=staging")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*✗ backend: probe http GET /health -> 200 on http://127.0.0.1:*"])
    result.stdout.fnmatch_lines(["*is a deployed stack: realstack starts nothing there*"])
    result.assert_outcomes()


def test_http_client_goes_to_the_service_itself_as_the_check_does(
    pytester: pytest.Pytester, staging: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``http_client`` connects as ``staging.check`` does: straight to the service, trusting
    the system's CAs or ``SSL_CERT_FILE``. A proxy named in the environment (here one that
    answers nothing) is not asked: the suite tests what the check vouched for."""
    dead_proxy = f"http://127.0.0.1:{free_port()}"
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(var, dead_proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    inner = Inner(pytester, staging)
    inner.write(
        "e2e/test_client.py",
        'def test_health(http_client):\n    assert http_client("backend").get("/health")'
        ".status_code == 200\n",
    )

    result = inner.run("--realstack-env=staging")

    result.assert_outcomes(passed=1)
