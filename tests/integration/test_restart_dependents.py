"""`invoke services.restart NAME` waits until what depends on NAME answers again: the window
running tests are kept out of ends only then, and a dependent that never heals is a failure
(exit 1, named), not a silent success."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Project
from integration._support import distinct_free_ports
from integration.test_cli import TASKS_PY, invoke

pytestmark = pytest.mark.integration

SERVERS = Path(__file__).with_name("_servers.py")


@pytest.fixture
def pinned_app(project: Project) -> Project:
    """redis, and an app that depends on it and never reconnects once redis went away."""
    redis_port, app_port = distinct_free_ports(2)
    project.write(
        f"""
[tool.realstack.services.redis]
kind = "redis"
port = {redis_port}

[tool.realstack.services.app]
kind = "process"
port = {app_port}
command = ["{{python}}", "{SERVERS}", "pinned", "{{port}}"]
depends_on = ["redis"]
env = {{ UPSTREAM_PORT = "{redis_port}" }}
probe = {{ kind = "http", path = "/health" }}
startup_timeout = 2
"""
    )
    (project.root / "tasks.py").write_text(TASKS_PY)
    return project


def test_a_dependent_that_does_not_heal_after_a_restart_fails_it_by_name(
    pinned_app: Project,
) -> None:
    assert invoke(pinned_app, "services.start", "--wait").returncode == 0

    done = invoke(pinned_app, "services.restart", "redis")

    assert done.returncode == 1, done.stdout + done.stderr
    assert "✓ redis restarted" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert (
        "✗ app depends on redis and did not pass its probe within 2s after redis came back: "
        "HTTP 503" in done.stderr
    ), done.stderr
    # its own restart is the way out, as the note says
    again = invoke(pinned_app, "services.restart", "app")
    assert again.returncode == 0, again.stdout + again.stderr


def test_a_restart_whose_dependents_answer_exits_0(pinned_app: Project) -> None:
    assert invoke(pinned_app, "services.start", "--wait").returncode == 0

    done = invoke(pinned_app, "services.restart", "app")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "✓ app restarted" in done.stdout


def test_stopping_a_service_others_still_use_says_they_fail_until_it_is_back(
    pinned_app: Project,
) -> None:
    """`services.stop --only redis` leaves the app running on a Redis that is gone: it said
    nothing, and the app's 503s (or a test run's preflight, 40 lines later) told the user."""
    assert invoke(pinned_app, "services.start", "--wait").returncode == 0

    done = invoke(pinned_app, "services.stop", "--only", "redis")

    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        "note: app still runs and depends on redis: it fails until `invoke services.start "
        "--wait` brings it back" in done.stdout
    ), done.stdout
    quiet = invoke(pinned_app, "services.stop", "--only", "app")
    assert "note:" not in quiet.stdout  # nothing depends on the app


def test_a_restart_of_a_service_that_was_not_running_says_it_started_it(
    pinned_app: Project,
) -> None:
    """It said "✓ app restarted" for an app that was stopped (and started redis for it)."""
    done = invoke(pinned_app, "services.restart", "app")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "✓ app started (it was not running) in " in done.stdout, done.stdout
