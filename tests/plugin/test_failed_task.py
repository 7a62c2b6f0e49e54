"""A task that failed (a migration) stops a strict run before its first test, naming it and
saying why from its log: the app that depends on it still runs, on what the task left, so the
stack is not as a start leaves it. A run went green against the old schema and the old app,
while ``services.status --check`` said "migrate failed". And a stack stopped on purpose is
said in a line per service, without each one's orderly shutdown from its log.

The app is a real HTTP server (a Python script); the task a script that fails while a flag
file exists.
"""

from __future__ import annotations

import pytest

from conftest import Project, free_port
from plugin.conftest import HEALTH_HANDLER, Inner

MANIFEST = """
[tool.realstack.services.migrate]
kind = "task"
command = ["{python}", "migrate.py"]
inputs = ["migrations/*"]

[tool.realstack.services.app]
kind = "process"
port = "${APP_PORT}"
command = ["{python}", "app.py", "{port}"]
depends_on = ["migrate"]
probe = { kind = "http", path = "/health", status = 200 }
exports = { APP_URL = "http://{host}:{port}" }
"""
MIGRATE = """
import sys
from pathlib import Path

if Path("fail").exists():
    sys.exit("migrate: boom, migration 0002 failed")
print("migrate: schema up to date")
"""
APP = (
    """
import http.server
import signal
import sys

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # an orderly shutdown, logged

"""
    + HEALTH_HANDLER
    + """


print("app: serving", flush=True)
try:
    http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
finally:
    print("app: shut down in order", flush=True)
"""
)
TESTS = """
import urllib.request


def test_app_answers(service_urls):
    assert urllib.request.urlopen(service_urls["APP_URL"] + "/health", timeout=5).status == 200


@pytest.mark.requires("app")
def test_app_only(service_urls):
    assert urllib.request.urlopen(service_urls["APP_URL"] + "/health", timeout=5).status == 200
"""


@pytest.fixture
def app(pytester: pytest.Pytester, project: Project) -> Inner:
    project.write(MANIFEST, {"APP_PORT": str(free_port())})
    (project.root / "migrate.py").write_text(MIGRATE)
    (project.root / "app.py").write_text(APP)
    (project.root / "migrations").mkdir()
    (project.root / "migrations" / "0001.sql").write_text("create table t ();\n")
    inner = Inner(pytester, project)
    inner.write("e2e/test_app.py", "import pytest\n" + TESTS)
    return inner


def test_a_failed_task_stops_the_run_before_its_first_test_naming_it(
    app: Inner, project: Project
) -> None:
    assert project.start().ok
    app.run().assert_outcomes(passed=2)
    (project.root / "fail").touch()
    (project.root / "migrations" / "0002.sql").write_text("alter table t add c int;\n")
    assert not project.start().ok  # the task failed; the old app runs on

    run = app.run()

    assert run.ret == pytest.ExitCode.TESTS_FAILED
    run.assert_outcomes()  # not one test ran
    run.stdout.fnmatch_lines(
        [
            "*realstack: required services of env 'test' are not healthy:*",
            "*✗ migrate: task has not completed (last run exited 1)*",
            "*| migrate: boom, migration 0002 failed*",
        ]
    )
    run.stdout.no_fnmatch_line("*✗ app*")  # it answers: the task is what is wrong

    (project.root / "fail").unlink()
    assert project.start().ok
    app.run().assert_outcomes(passed=2)


def test_a_stopped_stack_is_a_line_per_service_without_its_shutdown_log(
    app: Inner, project: Project
) -> None:
    assert project.start().ok
    assert project.stop().ok

    run = app.run()

    assert run.ret == pytest.ExitCode.TESTS_FAILED
    run.stdout.fnmatch_lines(["*✗ app: probe http GET /health*"])
    run.stdout.no_fnmatch_line("*shut down in order*")
