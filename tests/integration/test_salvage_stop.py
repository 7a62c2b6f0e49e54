"""`services.stop` with a broken manifest: it stops from the records what they prove ours.

A stack started from a valid manifest keeps running when someone breaks pyproject.toml; the
stop must still work (exit 0), and stop nothing but this instance's own processes. A foreign
process behind a forged record (this instance's id, its real pid and create time) survives
unsignalled, and its record is kept and reported. Real PostgreSQL, Redis and an HTTP process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from conftest import Project, throwaway_project
from integration._support import (
    NATIVE_MANIFEST,
    processes_owned_by,
    still_running,
    write_manifest,
)
from integration.test_cli import TASKS_PY, invoke, lines_with, succeeded
from realstack.records import ProcessRecord, Records
from realstack.state import InstancePaths
from realstack.waiting import wait_until

pytestmark = pytest.mark.integration

SERVERS = Path(__file__).with_name("_servers.py")
APP_SERVICE = f"""
[tool.realstack.services.app]
kind = "process"
port = "${{APP_PORT}}"
command = ["{{python}}", "{SERVERS}", "health", "{{port}}"]
depends_on = ["postgres", "redis"]
probe = {{ kind = "http", path = "/health" }}
"""
SERVICES = ("postgres", "redis", "app")
# Each way a manifest gets broken: (old text, new text) in pyproject.toml, and what the stop
# must say about it.
BREAKAGES = {
    "invalid TOML": (
        "[tool.realstack.services.app]",
        "[tool.realstack.services.app",
        "pyproject.toml: not valid TOML",
    ),
    "unknown key": (
        'database = "2"',
        'database = "2"\ncolour = "blue"',
        "tool.realstack.services.redis.colour: unknown key",
    ),
    "unknown dependency": (
        'depends_on = ["postgres", "redis"]',
        'depends_on = ["postgres", "redis", "nope"]',
        "tool.realstack.services.app.depends_on[2]: unknown service 'nope'",
    ),
}
# Notes every catchable signal in its marker file instead of dying; "ready" once it listens.
VICTIM = textwrap.dedent(
    """
    import signal, sys
    marker = sys.argv[1]
    def note(signum, frame):
        with open(marker, "a") as fh:
            fh.write(f"signal {signum}\\n")
    for name in ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"):
        signal.signal(getattr(signal, name), note)
    with open(marker, "a") as fh:
        fh.write("ready\\n")
    sys.stdin.read()
    """
)


class Victim:
    """A process realstack did not start (own session, unmarked) that notes any signal."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker
        self.popen = subprocess.Popen(
            [sys.executable, "-c", VICTIM, str(marker)],
            stdin=subprocess.PIPE,
            start_new_session=True,
        )
        wait_until(lambda: None if self.noted() else "victim not ready", 30)
        self.process = psutil.Process(self.popen.pid)

    def noted(self) -> list[str]:
        return marker.read_text().splitlines() if (marker := self.marker).exists() else []

    def end(self) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.close()  # it ends on EOF: no signal needed
        self.popen.wait(timeout=30)


@pytest.fixture
def running() -> Iterator[Project]:
    """postgres, redis and app started from a valid manifest, with a two-line tasks.py."""
    with throwaway_project("realstack-salvage-") as project:
        write_manifest(project, NATIVE_MANIFEST + APP_SERVICE, "APP_PORT")
        (project.root / "tasks.py").write_text(TASKS_PY)
        report = project.start()
        assert report.ok, report.errors
        yield project


@pytest.fixture
def victim(tmp_path: Path) -> Iterator[Victim]:
    found = Victim(tmp_path / "victim.log")
    yield found
    found.end()


def forge_record(project: Project, victim: Victim) -> Path:
    """A well-formed record of this instance naming the victim by its real pid and start."""
    stack = project.stack()
    records = Records(InstancePaths(stack.state_dir), stack.instance_id)
    records.write(
        ProcessRecord(
            service="impostor",
            instance=stack.instance_id,
            provider="native",
            pid=victim.process.pid,
            create_time=victim.process.create_time(),
            port=1,
            argv=tuple(victim.process.cmdline()),
        )
    )
    return records.paths.record("impostor")


def recorded_pids(project: Project) -> set[int]:
    """The services' own processes, from their records: the set of all a project's processes
    is no fixed point to compare with (a postmaster's autovacuum workers come and go)."""
    return {json.loads(p.read_text())["pid"] for p in (project.state / "services").glob("*.json")}


def break_manifest(project: Project, how: str) -> None:
    old, new, _ = BREAKAGES[how]
    pyproject = project.root / "pyproject.toml"
    text = pyproject.read_text()
    assert old in text
    pyproject.write_text(text.replace(old, new))


@pytest.mark.parametrize("how", list(BREAKAGES))
def test_stop_with_a_broken_manifest_stops_every_recorded_service_and_nothing_else(
    running: Project, victim: Victim, how: str
) -> None:
    """Exit 0; the error and "from the records" are said; every process of the stack is gone,
    their records removed; the forged record's process survives unsignalled, its record kept."""
    assert len(processes_owned_by(running.root)) >= len(SERVICES)
    forged = forge_record(running, victim)
    break_manifest(running, how)

    done = succeeded(invoke(running, "services.stop"))

    assert BREAKAGES[how][2] in done.stderr
    assert "the manifest cannot be loaded" in done.stderr
    assert "stopping from the records" in done.stdout
    for name in SERVICES:
        assert lines_with(done.stdout, name, "stopped"), done.stdout
    assert lines_with(done.stdout, "impostor", "stale"), done.stdout
    assert f"pid {victim.process.pid} is not this instance's process" in done.stdout
    assert processes_owned_by(running.root) == []
    assert victim.popen.poll() is None
    assert victim.noted() == ["ready"]
    assert forged.is_file()
    assert sorted(p.name for p in forged.parent.iterdir()) == ["impostor.json"]


def test_stop_with_a_broken_manifest_and_only_is_refused_without_stopping_anything(
    running: Project,
) -> None:
    """--only needs the manifest: exit 2 naming the error and the way out; all keeps running."""
    leaders = recorded_pids(running)
    assert len(leaders) == len(SERVICES)
    break_manifest(running, "unknown key")

    done = invoke(running, "services.stop", "--only", "redis")

    assert done.returncode == 2, done
    assert "tool.realstack.services.redis.colour: unknown key" in done.stderr
    assert "--only cannot be used; `services.stop` alone stops from the records" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert [pid for pid in leaders if not still_running(pid)] == []
    succeeded(invoke(running, "services.stop"))
    assert processes_owned_by(running.root) == []


def test_status_with_a_broken_manifest_shows_what_the_records_prove_runs(
    running: Project, victim: Victim
) -> None:
    """The outside tester's `services.status` printed only the error, hiding a running stack:
    now each recorded service is listed as ours (its pid), the forged record's as stale, with
    the way to stop them; the exit stays 2 (health is the manifest's to say). Nothing stops."""
    leaders = recorded_pids(running)
    forge_record(running, victim)
    break_manifest(running, "unknown key")

    done = invoke(running, "services.status")

    assert done.returncode == 2, done
    assert "the manifest cannot be loaded: tool.realstack.services.redis.colour" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    for pid in leaders:
        assert lines_with(done.stdout, "ours", str(pid)), done.stdout
    assert lines_with(done.stdout, "impostor", "stale"), done.stdout
    assert "`invoke services.stop` stops them from the records" in done.stdout
    assert [pid for pid in leaders if not still_running(pid)] == []
    shown = json.loads(invoke(running, "services.status", "--json").stdout)
    assert {r["name"]: r["state"] for r in shown["services"]} == {
        "postgres": "ours",
        "redis": "ours",
        "app": "ours",
        "impostor": "stale",
    }
    assert shown["error"].endswith("colour: unknown key")

    succeeded(invoke(running, "services.stop"))
    after = invoke(running, "services.status")
    assert after.returncode == 2
    for name in SERVICES:
        assert lines_with(after.stdout, name, "down"), after.stdout
