"""An outage whose service does not come back: the outage test fails, and every test after it
that needs the service fails at once, in setup, naming that test (not each after its own
timeouts, as an anonymous infrastructure failure); so does the next run's preflight. Once the
service answers again (``invoke services.start``), the tests run as before.

The service is a real HTTP server (a Python script) that refuses to start while a flag file
exists: the outage test creates the file inside its window, so the restore fails.
"""

from __future__ import annotations

import pytest

from conftest import Project, free_port
from plugin.conftest import HEALTH_HANDLER, Inner, states

MANIFEST = """
[tool.realstack.services.api]
kind = "process"
port = "${API_PORT}"
command = ["{python}", "api.py", "{port}"]
probe = { kind = "http", path = "/health", status = 200 }
startup_timeout = 10
exports = { API_URL = "http://{host}:{port}" }

[tool.realstack.services.web]
kind = "process"
port = "${WEB_PORT}"
command = ["{python}", "api.py", "{port}"]
depends_on = ["api"]
probe = { kind = "http", path = "/health", status = 200 }
"""
SERVER = (
    """
import http.server
import sys
from pathlib import Path

if Path("refuse").exists():
    sys.exit("api: refusing to start while ./refuse exists")

"""
    + HEALTH_HANDLER
    + """


http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
"""
)
TESTS = """
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.requires("api")
REFUSE = Path({refuse!r})


def test_1_takes_api_away_for_good(realstack):
    with realstack.outage("api"):
        REFUSE.touch()


def test_2_uses_api(service_urls):
    assert urllib.request.urlopen(service_urls["API_URL"] + "/health", timeout=5).status == 200


def test_3_uses_api_too(service_urls):
    assert urllib.request.urlopen(service_urls["API_URL"] + "/health", timeout=5).status == 200
"""
FIRST = "e2e/test_api.py::test_1_takes_api_away_for_good"
EXITED = "api: exited during startup with code 1"


def test_the_tests_after_an_outage_that_did_not_end_fail_at_once_naming_it(
    pytester: pytest.Pytester, project: Project, inner_env: dict[str, str]
) -> None:
    api_port, web_port = free_port(), free_port()
    while web_port == api_port:
        web_port = free_port()
    project.write(MANIFEST, {"API_PORT": str(api_port), "WEB_PORT": str(web_port)})
    (project.root / "api.py").write_text(SERVER)
    refuse = project.root / "refuse"
    inner = Inner(pytester, project)
    inner.write("e2e/test_api.py", TESTS.format(refuse=str(refuse)))
    assert project.start(only=["api"]).ok  # web, which depends on api, is not running

    broken = inner.run()

    broken.assert_outcomes(failed=1, errors=2)
    broken.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_2_uses_api*",
            f"*realstack: not run, the stack is broken (api: probe http GET /health*) since "
            f"{FIRST} took api away and it did not come back: {EXITED}*",
            "*ERROR at setup of test_3_uses_api_too*",
            f"*since {FIRST} took api away*",
            "*infrastructure failures (3)*",
            f"  e2e/test_api.py::test_2_uses_api: api: probe *(since {FIRST} took api away*",
        ],
        consecutive=False,
    )
    # the outage test's own report says what happened, without a traceback through realstack
    broken.stdout.fnmatch_lines(
        [
            "*realstack.outage('api'): api did not come back: api: exited during startup with "
            "code 1*",
            "*| api: refusing to start while ./refuse exists*",
            f"  {FIRST}: api: probe *",
        ],
        consecutive=False,
    )
    assert "_launch.py" not in broken.stdout.str()
    broken.stdout.no_fnmatch_line(f"  {FIRST}: *(since*")

    again = inner.run("-k", "not test_1")

    assert again.ret == pytest.ExitCode.TESTS_FAILED
    again.stdout.fnmatch_lines(
        [
            "*realstack: required services of env 'test' are not healthy (since "
            f"{FIRST} took api away and it did not come back: {EXITED}):*",
            "*✗ api: probe http GET /health*",
        ]
    )

    refuse.unlink()
    assert project.start(only=["api"]).ok
    fixed = inner.run("-k", "not test_1")

    fixed.assert_outcomes(passed=2)
    # gone once api answers again (web, never running, is not waited for)
    assert not (project.state / "tests.broken").exists()
    assert states(project) == {"api": "ours", "web": "down"}
