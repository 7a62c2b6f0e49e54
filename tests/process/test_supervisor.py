"""The stop ladder and ownership rules on real processes: trees, escalation, stale pids."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from conftest import Project, free_port
from process._support import SVC, SVC_TREE, is_alive, service_toml, wait_for_text
from realstack import process_scan, started, supervisor
from realstack.providers.native import NativeProvider
from realstack.records import ProcessRecord, Records
from realstack.state import InstancePaths
from realstack.status import status
from realstack.supervisor import OWNER_VAR, LaunchSpec, Marks
from realstack.waiting import wait_until

pytestmark = pytest.mark.process

ROLES = ("leader", "child", "grandchild")


StartTree = Callable[..., dict[str, int]]


@pytest.fixture
def start_tree(project: Project) -> Iterator[StartTree]:
    """``start_tree(*flags, stop_timeout=1.0)`` starts ``app`` as a ``svc_tree.py`` tree.

    Returns the pids by role. Tree members that do not carry the owner marker escape the
    ``project`` fixture's check, so any still alive at teardown are killed here, failing the test.
    """
    pids: dict[str, int] = {}

    def start(*flags: str, stop_timeout: float = 1.0) -> dict[str, int]:
        piddir = project.root / "pids"
        piddir.mkdir()
        argv = [str(SVC_TREE), "leader", str(piddir), "{port}", *flags]
        project.write(
            # three interpreters start one after another: time for a loaded machine (the
            # leader listening ends the wait as soon as it does)
            service_toml(
                "app", argv, port_var="APP_PORT", startup_timeout=30, stop_timeout=stop_timeout
            ),
            {"APP_PORT": str(free_port())},
        )
        report = project.start()
        assert report.ok, report.errors
        pids.update({role: int((piddir / f"{role}.pid").read_text()) for role in ROLES})
        assert report.results[0].pid == pids["leader"]
        return dict(pids)

    try:
        yield start
    finally:
        survivors = [pid for pid in pids.values() if is_alive(pid)]
        for pid in survivors:
            with contextlib.suppress(ProcessLookupError):  # it may end between scan and kill
                os.kill(pid, signal.SIGKILL)
        assert not survivors, f"tree members outlived the test: {survivors}"


def _marker(project: Project, service: str) -> str:
    stack = project.stack()
    return NativeProvider(stack).marks(stack.service(service)).marker


def test_stop_kills_service_child_and_grandchild(project: Project, start_tree: StartTree) -> None:
    """Stopping a service stops the service, its child and its grandchild."""
    pids = start_tree()
    assert all(is_alive(pid) for pid in pids.values())
    assert os.getpgid(pids["grandchild"]) == pids["leader"]  # one process group, as spawned

    report = project.stop()

    assert [(r.name, r.action) for r in report.results] == [("app", "stopped")]
    assert {role: is_alive(pid) for role, pid in pids.items()} == dict.fromkeys(ROLES, False)


@pytest.mark.parametrize(
    "flags",
    [
        # left the group; still a descendant and still marked
        pytest.param(("--setsid",), id="setsid"),
        # left the group and orphaned: only the inherited marker leads to it
        pytest.param(("--setsid", "--orphan"), id="setsid-orphaned"),
        # left the group, marker dropped: only the process tree leads to it
        pytest.param(("--setsid", "--scrub-env"), id="setsid-unmarked"),
        # orphaned, marker dropped: only the process group leads to it
        pytest.param(("--orphan", "--scrub-env"), id="orphaned-unmarked"),
    ],
)
def test_stop_kills_grandchild_that_escaped_group_tree_or_marker(
    project: Project, start_tree: StartTree, flags: tuple[str, ...]
) -> None:
    """A grandchild is stopped if any one of group, descendants or owner marker reaches it."""
    pids = start_tree(*flags)
    leader, grandchild = psutil.Process(pids["leader"]), psutil.Process(pids["grandchild"])
    # Preconditions: the routes realstack could take to the grandchild are as the flags say.
    in_group = os.getpgid(grandchild.pid) == leader.pid
    descendant = grandchild.pid in {p.pid for p in leader.children(recursive=True)}
    has_marker = grandchild.environ().get(OWNER_VAR) == _marker(project, "app")
    assert (in_group, descendant, has_marker) == (
        "--setsid" not in flags,
        "--orphan" not in flags,
        "--scrub-env" not in flags,
    )

    report = project.stop()

    assert [(r.name, r.action) for r in report.results] == [("app", "stopped")]
    assert {role: is_alive(pid) for role, pid in pids.items()} == dict.fromkeys(ROLES, False)


def test_stop_escalates_to_sigkill_when_children_ignore_sigterm(
    project: Project, start_tree: StartTree
) -> None:
    """Children that ignore SIGTERM are SIGKILLed once stop_timeout has passed."""
    pids = start_tree("--ignore-term", stop_timeout=0.5)

    report = project.stop()

    assert [(r.name, r.action) for r in report.results] == [("app", "stopped")]
    assert report.results[0].seconds >= 0.5  # it waited the stop_timeout before escalating
    assert {role: is_alive(pid) for role, pid in pids.items()} == dict.fromkeys(ROLES, False)


# --------------------------------------------------------------------------- supervisor directly

Spawn = Callable[..., tuple[psutil.Process, Marks]]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """``spawn(*svc_args)`` runs ``svc.py`` under the supervisor; returns (process, marks).

    It returns once the process has said it is ready (its signal handlers are in place).
    Whatever carries the marker is killed at teardown, and the test fails if anything did.
    """
    marks = Marks(f"realstack-process-test::{tmp_path}", tmp_path / "svc.log")
    spawned: list[int] = []

    def run(*args: str) -> tuple[psutil.Process, Marks]:
        argv = (sys.executable, str(SVC), *args, "--say", "svc <pid> ready")
        proc = supervisor.spawn(LaunchSpec(argv=argv, env=dict(os.environ)), marks)
        spawned.append(proc.pid)
        wait_for_text(marks.log, f"svc {proc.pid} ready")
        return proc, marks

    try:
        yield run
    finally:
        survivors = process_scan.owned(marks)
        for proc in survivors:
            with contextlib.suppress(psutil.NoSuchProcess):  # it may end between scan and kill
                proc.kill()
        for pid in spawned:
            supervisor.forget(pid)
        assert not survivors, f"processes outlived the test: {survivors}"


def test_supervisor_stop_escalates_and_says_so_when_sigterm_is_ignored(spawn: Spawn) -> None:
    """supervisor.stop returns True after it had to SIGKILL a process that ignores SIGTERM."""
    proc, marks = spawn("--ignore-term")

    escalated = supervisor.stop(proc, marks, timeout=0.5)

    assert escalated is True
    assert not is_alive(proc.pid)
    assert supervisor.exit_code(proc) == -signal.SIGKILL


def test_supervisor_stop_does_not_escalate_when_sigterm_suffices(spawn: Spawn) -> None:
    """supervisor.stop returns False when SIGTERM alone ended the process."""
    proc, marks = spawn()

    escalated = supervisor.stop(proc, marks, timeout=5)

    assert escalated is False
    assert not is_alive(proc.pid)
    assert supervisor.exit_code(proc) == -signal.SIGTERM


def test_a_server_that_wipes_its_environment_is_still_found_by_its_log_stream(
    spawn: Spawn,
) -> None:
    """valkey overwrites its environment (process title): the marker is gone, but its stdout
    is still the instance's log, so it is found and stopped without any record."""
    proc, marks = spawn("--exec-without-env")
    wait_until(lambda: None if OWNER_VAR not in proc.environ() else "not re-exec'd yet", 10)

    assert [p.pid for p in process_scan.owned(marks)] == [proc.pid]
    supervisor.stop(None, marks, process_scan.owned(marks), timeout=5)
    assert not is_alive(proc.pid)
    assert process_scan.owned(marks) == []


# --------------------------------------------------------------------------- stale records


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen[bytes]]:
    """An unrelated long-lived process that realstack did not start (dies on any SIGTERM)."""
    proc = subprocess.Popen([sys.executable, str(SVC)], stdin=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _write_stale_record(project: Project, pid: int, ticks_off: int | None = None) -> Path:
    """An ``app`` record naming ``pid`` with a create_time that is not that process's (or,
    ``ticks_off``: its true create_time, and a start that many clock ticks off its own)."""
    port = free_port()
    project.write(
        service_toml("app", [str(SVC), "--port", "{port}"], port_var="APP_PORT"),
        {"APP_PORT": str(port)},
    )
    stack = project.stack()
    paths = InstancePaths(stack.state_dir)
    paths.ensure()
    record = ProcessRecord(
        service="app",
        instance=stack.instance_id,
        provider="native",
        pid=pid,
        create_time=psutil.Process(pid).create_time() - (3600 if ticks_off is None else 0),
        argv=("an-old-app",),
        port=port,
        start_ticks=None if ticks_off is None else (started.ticks(pid) or 0) - ticks_off,
        boot_id=None if ticks_off is None else started.boot_id(),
    )
    Records(paths, stack.instance_id).write(record)
    return paths.record("app")


def test_stale_record_is_reported_and_its_pid_never_signalled(
    project: Project, bystander: subprocess.Popen[bytes]
) -> None:
    """A record whose pid now belongs to another process is stale: reported, removed, not killed."""
    record_path = _write_stale_record(project, bystander.pid)

    [row] = status(project.stack())
    assert (row.state, row.pid) == ("stale", None)

    report = project.stop()

    assert [(r.name, r.action, r.pid) for r in report.results] == [("app", "stale", None)]
    assert not record_path.exists()
    assert bystander.poll() is None
    assert is_alive(bystander.pid)


def test_start_replaces_stale_record_without_signalling_its_pid(
    project: Project, bystander: subprocess.Popen[bytes]
) -> None:
    """Start treats a stale record as absent: it starts a new process and leaves the pid alone."""
    _write_stale_record(project, bystander.pid)

    report = project.start()

    assert report.ok, report.errors
    [result] = report.results
    assert result.action == "started"
    assert result.pid is not None
    assert result.pid != bystander.pid
    assert bystander.poll() is None
    assert is_alive(bystander.pid)


def _clock_stepped(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """The wall clock stepped by ``seconds`` since the services started (NTP, a resumed VM):
    Linux recomputes the boot time from it, and psutil's ``create_time()`` moves with it."""
    from psutil import _pslinux

    real = _pslinux.boot_time
    before = psutil.Process().create_time()
    monkeypatch.setattr(_pslinux, "boot_time", lambda: real() + seconds)
    assert psutil.Process().create_time() - before == pytest.approx(seconds, abs=0.01)


def test_a_service_started_before_a_clock_step_is_still_ours_and_reused(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clock step moves no process's start: the service is ours, reused, never restarted.
    (It was taken for an unrecorded orphan and restarted, under a running test suite.)"""
    port = free_port()
    project.write(
        service_toml("app", [str(SVC), "--port", "{port}"], port_var="APP_PORT"),
        {"APP_PORT": str(port)},
    )
    first = project.start()
    assert first.ok, first.errors
    [started] = first.results

    _clock_stepped(monkeypatch, 22.0)

    [row] = status(project.stack())
    assert (row.state, row.pid) == ("ours", started.pid)
    again = project.start()
    assert again.ok, again.errors
    assert [(r.action, r.pid) for r in again.results] == [("reused", started.pid)]
    stopped = project.stop()
    assert [(r.action, r.pid) for r in stopped.results] == [("stopped", started.pid)]


def test_a_record_whose_pid_started_at_another_tick_is_stale(
    project: Project, bystander: subprocess.Popen[bytes]
) -> None:
    """The ticks since boot still tell a reused pid from the recorded process."""
    record_path = _write_stale_record(project, bystander.pid, ticks_off=100)

    [row] = status(project.stack())
    assert (row.state, row.pid) == ("stale", None)
    project.stop()
    assert not record_path.exists()
    assert bystander.poll() is None


# --------------------------------------------------------------------------- the process scan


def _sleeper(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )


def test_the_scan_reads_the_marker_as_a_variable_not_as_text_inside_another(
    tmp_path: Path,
) -> None:
    """The scan searches each environment's bytes: a marker that only appears inside another
    variable's value is not ours; one that is the first variable of the block is."""
    marks = Marks("/somewhere::abc123::db", tmp_path / "db.log")
    first = _sleeper({OWNER_VAR: marks.marker, "PATH": os.environ["PATH"]})
    inside = _sleeper({"NOTE": f"x{OWNER_VAR}={marks.marker}", "PATH": os.environ["PATH"]})
    other = _sleeper({"PATH": os.environ["PATH"], OWNER_VAR: marks.marker + "-other"})
    try:
        wait_until(lambda: None if psutil.Process(first.pid).environ() else "not exec'd", 10)
        found = process_scan.scan([marks])
        assert [p.pid for p in found.get(marks.marker, [])] == [first.pid]
    finally:
        for proc in (first, inside, other):
            proc.kill()
            proc.wait()
