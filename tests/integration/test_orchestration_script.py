"""``scripts/test_service_orchestration.py`` run as users run it: a subprocess in the project root.

The throwaway project holds the shared postgres + redis manifest plus ``web``, a small HTTP
process service exporting ``WEB_SERVICE_URL``, so every kind of connectivity check runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Project
from integration._support import (
    MANIFEST,
    MANIFEST_VARS,
    containers_of,
    processes_owned_by,
    write_manifest,
)
from realstack.status import status

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "test_service_orchestration.py"
SERVERS = Path(__file__).with_name("_servers.py")
WEB_SERVICE = f"""
[tool.realstack.services.web]
kind = "process"
port = "${{WEB_PORT}}"
command = ["{{python}}", "{SERVERS}", "health", "{{port}}"]
depends_on = ["postgres", "redis"]
probe = {{ kind = "http", path = "/health", status = 200 }}
exports = {{ WEB_SERVICE_URL = "http://{{host}}:{{port}}" }}
"""
SERVICES = ("postgres", "redis", "web")
FULL_CHECKS = {
    ("startup", "postgres"),
    ("startup", "redis"),
    ("startup", "web"),
    ("health", "postgres"),
    ("health", "redis"),
    ("health", "web"),
    ("connectivity", "postgres"),  # DATABASE_URL
    ("connectivity", "redis"),  # REDIS_URL
    ("connectivity", "web"),  # WEB_SERVICE_URL
    ("env", "runtime.env"),
    ("env", "runtime.json"),
}


def clean_environ() -> dict[str, str]:
    """The caller's environment without realstack's or the manifest's variables."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("REALSTACK_") and k not in MANIFEST_VARS
    }


def lines_with(text: str, *words: str) -> list[str]:
    """Lines of ``text`` containing every one of ``words`` as a whole word."""
    return [line for line in text.splitlines() if set(words) <= set(line.split())]


def run_script(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The script in ``cwd`` with a clean environment; never raises on a non-zero exit."""
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=cwd,
        env=clean_environ(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def exited(done: subprocess.CompletedProcess[str], code: int) -> str:
    """Assert exit ``code`` and no traceback; return stdout and stderr together."""
    output = done.stdout + done.stderr
    assert done.returncode == code, f"exit {done.returncode}\n{output}"
    assert "Traceback" not in output
    return output


def check_rows(output: str) -> dict[tuple[str, str], str]:
    """(check, service) → PASS/FAIL, from the checks table."""
    rows = {}
    for line in output.splitlines():
        cells = line.split()
        if len(cells) >= 3 and cells[2] in ("PASS", "FAIL"):
            rows[(cells[0], cells[1])] = cells[2]
    return rows


def timing_rows(output: str) -> dict[str, str]:
    """Service → its whole row of the timings table."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["SERVICE", "STARTED_AT"])
    rows = {}
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        rows[line.split()[0]] = line
    return rows


@pytest.fixture(scope="module")
def orchestration(module_project: Project) -> Project:
    """The shared project: postgres, redis and web on free ports."""
    return write_manifest(module_project, MANIFEST + WEB_SERVICE, "WEB_PORT")


@pytest.fixture
def up(orchestration: Project) -> Project:
    """The shared project with every service up (started now, or reused)."""
    report = orchestration.start()
    assert report.ok, report.errors
    return orchestration


# --------------------------------------------------------------------------- a healthy stack


def test_exits_0_with_every_check_passing_when_the_stack_is_up(up: Project) -> None:
    """Startup, health, connectivity and env checks all pass for every service: exit 0."""
    output = exited(run_script(up.root), 0)
    assert check_rows(output) == dict.fromkeys(FULL_CHECKS, "PASS"), output
    assert "all 11 checks passed" in output


def test_prints_started_at_ready_seconds_and_probe_latency_for_every_service(
    up: Project,
) -> None:
    """The timings table has a row per service with a start time, ready seconds and latency."""
    output = exited(run_script(up.root), 0)
    rows = timing_rows(output)
    assert set(rows) == set(SERVICES), output
    for name, row in rows.items():
        cells = row.split()
        assert "-" not in cells, f"{name} lacks a timing: {row}"
        assert cells[-1] == "ms" and cells[-3] == "s", row  # "<ready> s  <latency> ms"


def test_quick_runs_only_the_startup_and_health_checks(up: Project) -> None:
    """--quick: a startup and a health row per service, no connectivity or env rows."""
    output = exited(run_script(up.root, "--quick"), 0)
    assert set(check_rows(output)) == {(c, s) for c in ("startup", "health") for s in SERVICES}


def test_verbose_prints_the_detail_of_passing_checks(up: Project) -> None:
    """--verbose shows what each check did: probe kinds, the query, the HTTP GET, the env file."""
    output = exited(run_script(up.root, "--verbose"), 0)
    assert lines_with(output, "health", "postgres", "PASS", "postgres", "SELECT", "1"), output
    assert lines_with(output, "health", "redis", "PASS", "redis", "PING"), output
    assert lines_with(output, "connectivity", "redis", "PASS", "REDIS_URL:", "SET/GET/DEL")
    web_url = up.stack().service("web").exports["WEB_SERVICE_URL"]
    assert lines_with(output, "connectivity", "web", "PASS", "GET", f"{web_url}/health")
    assert lines_with(output, "env", "runtime.env", "PASS"), output


def test_without_verbose_passing_checks_print_no_detail(up: Project) -> None:
    """Without --verbose a passing row is just check, service and PASS."""
    output = exited(run_script(up.root), 0)
    for line in output.splitlines():
        if "PASS" in line.split():
            assert len(line.split()) == 3, line


# --------------------------------------------------------------------------- failures


def test_exits_1_naming_the_service_that_was_stopped(up: Project) -> None:
    """With redis stopped, its startup, health and connectivity checks fail; the others pass."""
    report = up.stop(only=["redis"])
    assert report.ok, report.errors
    done = run_script(up.root)
    output = exited(done, 1)
    rows = check_rows(output)
    failed = {key for key, result in rows.items() if result == "FAIL"}
    assert failed == {("startup", "redis"), ("health", "redis"), ("connectivity", "redis")}
    assert "startup/redis" in done.stderr
    assert "postgres" not in done.stderr


def test_exits_1_naming_runtime_env_when_the_env_file_is_missing(up: Project) -> None:
    """A deleted runtime.env fails the env check (a later start writes it again)."""
    (up.state / "runtime.env").unlink()
    done = run_script(up.root)
    exited(done, 1)
    assert "env/runtime.env" in done.stderr


def test_timings_keep_the_ready_seconds_of_services_still_running_after_one_stops(
    up: Project,
) -> None:
    """Stopping redis leaves postgres running, so its recorded ready_seconds stay shown."""
    runtime = json.loads((up.state / "runtime.json").read_text())
    assert isinstance(runtime["services"]["postgres"]["ready_seconds"], float)
    assert up.stop(only=["redis"]).ok
    rows = timing_rows(exited(run_script(up.root), 1))
    assert "-" not in rows["postgres"].split(), rows["postgres"]


def test_timings_show_the_ready_seconds_of_the_start_that_launched_each_service(
    orchestration: Project,
) -> None:
    """A later start that only reuses the services does not replace their ready_seconds."""
    assert orchestration.stop().ok
    launched = orchestration.start()
    assert launched.ok, launched.errors
    assert {r.action for r in orchestration.start().results} == {"reused"}
    rows = timing_rows(exited(run_script(orchestration.root), 0))
    for result in launched.results:
        assert f"{result.seconds:.3f}" in rows[result.name].split(), rows[result.name]


# --------------------------------------------------------------------------- cleanup, usage


def test_cleanup_runs_the_checks_then_leaves_nothing_running(up: Project) -> None:
    """--cleanup: the checks pass, then every service is stopped and no process survives."""
    output = exited(run_script(up.root, "--cleanup"), 0)
    assert check_rows(output) == dict.fromkeys(FULL_CHECKS, "PASS"), output
    for name in SERVICES:
        assert lines_with(output, name, "stopped"), output
    assert processes_owned_by(up.root) == []
    assert containers_of(up) == []
    assert {row.name: row.state for row in status(up.stack(), probe=False)} == dict.fromkeys(
        SERVICES, "down"
    )


def test_unknown_option_is_a_usage_error_exiting_2(orchestration: Project) -> None:
    """argparse rejects an unknown flag with exit 2 and a usage message."""
    done = run_script(orchestration.root, "--fast")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "usage:" in done.stderr


def test_outside_a_realstack_project_exits_2_with_a_message(tmp_path: Path) -> None:
    """With no [tool.realstack] manifest at or above the cwd: exit 2, a message, no traceback."""
    done = run_script(tmp_path)
    exited(done, 2)
    assert "[tool.realstack]" in done.stderr
