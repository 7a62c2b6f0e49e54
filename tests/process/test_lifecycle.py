"""Start/stop lifecycle of process services: failures, rollback, concurrency, reuse, env."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import Project, free_port
from integration._support import free_ports_for
from process._support import (
    SVC,
    CliStart,
    file_probe,
    is_alive,
    marked,
    release,
    run_starter,
    service_toml,
    wait_for_file,
    wait_for_text,
)
from realstack.errors import PortInUse, ProbeTimeout, ServiceExited
from realstack.records import ProcessRecord, Records
from realstack.results import Report
from realstack.state import InstancePaths
from realstack.status import status
from realstack.supervisor import OWNER_VAR

pytestmark = pytest.mark.process


def _write_app(project: Project, *svc_args: str, **options: Any) -> int:
    """A one-service project running ``svc.py *svc_args`` as ``app``; returns its port."""
    port = free_port()
    project.write(
        service_toml("app", [str(SVC), *svc_args], port_var="APP_PORT", **options),
        {"APP_PORT": str(port)},
    )
    return port


def _paths(project: Project) -> InstancePaths:
    return InstancePaths(project.stack().state_dir)


def _pid_in(lines: tuple[str, ...]) -> int:
    """The pid a ``svc.py --say '... pid=<pid>'`` line announced."""
    for line in lines:
        if match := re.search(r"pid=(\d+)", line):
            return int(match.group(1))
    raise AssertionError(f"no pid= line in {lines}")


def _assert_nothing_runs(project: Project) -> None:
    assert marked(str(project.root)) == []
    assert not _paths(project).record("app").exists()


# --------------------------------------------------------------------------- startup failures


def test_never_ready_service_fails_with_probe_timeout_and_is_rolled_back(
    project: Project,
) -> None:
    """ProbeTimeout names the probe, last error, elapsed/timeout and the log tail; nothing stays."""
    _write_app(project, "--say", "app booting pid=<pid>, listening nowhere", startup_timeout=2)

    report = project.start()

    [result] = report.results
    assert result.action == "failed"
    error = result.error
    assert isinstance(error, ProbeTimeout)
    message = str(error)
    assert "app booting" in message
    assert "listening nowhere" in message
    assert "probe tcp connect" in message
    assert "ConnectionRefused" in error.last_error
    assert error.last_error in message
    assert error.timeout == 2.0
    assert error.elapsed >= 2.0
    assert f"not ready after {error.elapsed:.1f}s (timeout 2s)" in message
    with pytest.raises(ProbeTimeout):
        report.raise_for_errors()
    assert not is_alive(_pid_in(error.log_tail))
    _assert_nothing_runs(project)


def test_service_exiting_during_startup_fails_at_once_with_exit_code_and_log_tail(
    project: Project,
) -> None:
    """A service that exits while starting fails with ServiceExited long before startup_timeout."""
    _write_app(
        project, "--say", "app: no config file, giving up", "--exit", "3", startup_timeout=60
    )

    report = project.start()

    [result] = report.results
    assert result.action == "failed"
    error = result.error
    assert isinstance(error, ServiceExited)
    assert error.returncode == 3
    assert "app: no config file, giving up" in error.log_tail
    assert "code 3" in str(error)
    assert "app: no config file, giving up" in str(error)
    # Early-exit detection, not a speed check: waiting for the 60 s timeout would be a bug.
    assert report.seconds < 15
    _assert_nothing_runs(project)


def test_startup_error_log_tail_shows_only_this_starts_output(project: Project) -> None:
    """The log tail in a startup error is this start's output, not an earlier run's lines."""
    port = _write_app(project, "--say", "run 1: listening", "--port", "{port}")
    first = project.start()
    assert first.ok, first.errors
    project.stop()
    project.write(  # the same service now crashes without printing anything
        service_toml("app", [str(SVC), "--exit", "3"], port_var="APP_PORT"),
        {"APP_PORT": str(port)},
    )

    report = project.start()

    [error] = report.errors
    assert isinstance(error, ServiceExited)
    assert error.returncode == 3
    assert "run 1: listening" in _paths(project).log("app").read_text()  # the log keeps it …
    assert "run 1: listening" not in error.log_tail  # … but this start did not print it
    assert "run 1: listening" not in str(error)


def test_foreign_listener_gives_port_in_use_and_is_left_alone(project: Project) -> None:
    """A port held by a process realstack did not start fails with PortInUse naming port and pid."""
    with socket.create_server(("127.0.0.1", 0)) as foreign:
        port = int(foreign.getsockname()[1])
        project.write(
            service_toml("app", [str(SVC), "--port", "{port}"], port_var="APP_PORT"),
            {"APP_PORT": str(port)},
        )

        report = project.start()

        [result] = report.results
        error = result.error
        assert isinstance(error, PortInUse)
        assert error.port == port
        assert error.owner is not None
        assert f"pid {os.getpid()}" in error.owner
        assert f"port {port}" in str(error)
        assert f"pid {os.getpid()}" in str(error)
        _assert_nothing_runs(project)
        assert not _paths(project).log("app").exists()  # never even spawned
        [row] = status(project.stack())
        assert row.state == "foreign"
        # The foreign socket is untouched: still open, still listening, still accepting.
        foreign.settimeout(5)
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            conn, _ = foreign.accept()
            conn.close()
        assert foreign.getsockname()[1] == port


def _write_api_and_crashing_worker(project: Project) -> None:
    """``api`` (healthy) and ``worker`` (depends on api, exits 3 during startup)."""
    project.write(
        service_toml("api", [str(SVC), "--port", "{port}"], port_var="API_PORT")
        + service_toml(
            "worker",
            [str(SVC), "--say", "worker crashed", "--exit", "3"],
            port_var="WORKER_PORT",
            extra={"depends_on": '["api"]'},
        ),
        free_ports_for("API_PORT", "WORKER_PORT"),
    )


def test_failed_start_rolls_back_the_services_it_started(project: Project) -> None:
    """When one service fails, the dependencies this start brought up are stopped again."""
    _write_api_and_crashing_worker(project)

    report = project.start()

    actions = {r.name: r.action for r in report.results}
    assert actions == {"api": "rolled-back", "worker": "failed"}
    assert isinstance(report.errors[0], ServiceExited)
    assert marked(str(project.root)) == []
    assert not any(_paths(project).services.iterdir())


def test_failed_start_keeps_services_an_earlier_start_started(project: Project) -> None:
    """Rollback stops only what this start started: an already running dependency stays up."""
    _write_api_and_crashing_worker(project)
    first = project.start(only=["api"])
    assert first.ok, first.errors
    api_pid = first.results[0].pid
    assert api_pid is not None

    report = project.start()

    assert [type(e) for e in report.errors] == [ServiceExited]
    assert is_alive(api_pid)
    assert [p.pid for p in marked(str(project.root))] == [api_pid]
    [api_row, worker_row] = status(project.stack(), probe=False)
    assert (api_row.state, api_row.pid) == ("ours", api_pid)
    assert worker_row.state == "down"


# --------------------------------------------------------------------------- several starters


@pytest.fixture
def starters() -> Iterator[list[subprocess.Popen[str]]]:
    """Starter processes a test launches; any still running at teardown is killed."""
    procs: list[subprocess.Popen[str]] = []
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()


def test_concurrent_starts_from_two_threads_give_one_instance(project: Project) -> None:
    """Two orchestrator.start calls at once in one process: both succeed, one process runs."""
    gate = project.root / "gate"
    _write_app(project, "--port", "{port}", probe=file_probe(gate), startup_timeout=30)
    reports: list[Report] = []
    threads = [threading.Thread(target=lambda: reports.append(project.start())) for _ in "ab"]
    for thread in threads:
        thread.start()
    wait_for_file(_paths(project).record("app"))  # one spawned it; it waits on the gate

    gate.touch()
    for thread in threads:
        thread.join(timeout=60)

    assert [r.ok for r in reports] == [True, True], [r.errors for r in reports]
    assert sorted(r.results[0].action for r in reports) == ["reused", "started"]
    assert reports[0].results[0].pid == reports[1].results[0].pid
    assert [p.pid for p in marked(str(project.root))] == [reports[0].results[0].pid]


def test_concurrent_starts_from_two_processes_give_one_instance(
    project: Project, starters: list[subprocess.Popen[str]]
) -> None:
    """Two realstack.start calls in separate processes at once: both succeed, one process runs."""
    gate = project.root / "gate"
    _write_app(project, "--port", "{port}", probe=file_probe(gate), startup_timeout=30)
    record = _paths(project).record("app")
    announced = [project.root / "a.announce", project.root / "b.announce"]
    starters.extend(run_starter(project.root, path) for path in announced)
    for path in announced:
        wait_for_file(path)  # both starters have imported realstack and wait for "go"

    release(*starters)
    wait_for_file(record)  # one of them has spawned the service; it waits on the gate
    gate.touch()
    outputs = [proc.communicate(timeout=60) for proc in starters]

    assert [proc.returncode for proc in starters] == [0, 0], outputs
    results = [json.loads(stdout) for stdout, _ in outputs]
    assert sorted(r["action"] for r in results) == ["reused", "started"]
    assert results[0]["pid"] == results[1]["pid"]
    assert [p.pid for p in marked(str(project.root))] == [results[0]["pid"]]


def _sigkill_starter_mid_start(
    project: Project, starters: list[subprocess.Popen[str]]
) -> ProcessRecord:
    """Start ``app`` (never ready) from a starter process, SIGKILL it while it waits; the record."""
    gate = project.root / "gate"  # never created: the starter waits until it is killed
    _write_app(project, "--say", "app up pid=<pid>", probe=file_probe(gate), startup_timeout=30)
    paths = _paths(project)
    starter = run_starter(project.root, project.root / "announce")
    starters.append(starter)
    release(starter)
    wait_for_text(paths.log("app"), "app up pid=")
    wait_for_file(paths.record("app"))
    record = _record(project)
    assert is_alive(record.pid)

    starter.kill()
    starter.communicate()

    assert starter.returncode == -signal.SIGKILL
    assert is_alive(record.pid)
    return record


def _record(project: Project) -> ProcessRecord:
    stack = project.stack()
    record = Records(_paths(project), stack.instance_id).read("app")
    assert isinstance(record, ProcessRecord), record
    return record


def _lose_record(project: Project) -> None:
    """Leave the state a starter SIGKILLed between spawn and record write leaves: no record."""
    _paths(project).record("app").unlink()


def test_stop_after_sigkilled_starter_leaves_nothing_running(
    project: Project, starters: list[subprocess.Popen[str]]
) -> None:
    """A starter SIGKILLed mid-start leaves a recorded service that stop then stops completely."""
    record = _sigkill_starter_mid_start(project, starters)
    [row] = status(project.stack(), probe=False)
    assert (row.state, row.pid) == ("ours", record.pid)

    report = project.stop()

    assert [(r.name, r.action, r.pid) for r in report.results] == [("app", "stopped", record.pid)]
    assert not is_alive(record.pid)
    _assert_nothing_runs(project)


def test_interrupted_starter_rolls_back_by_itself(
    project: Project, starters: list[subprocess.Popen[str]]
) -> None:
    """Ctrl-C (SIGINT) during a start stops what that start had started, without a stop call."""
    gate = project.root / "gate"  # never created
    _write_app(project, "--say", "app up", probe=file_probe(gate), startup_timeout=30)
    paths = _paths(project)
    starter = run_starter(project.root, project.root / "announce")
    starters.append(starter)
    release(starter)
    wait_for_text(paths.log("app"), "app up")
    wait_for_file(paths.record("app"))
    record = _record(project)

    starter.send_signal(signal.SIGINT)
    _, stderr = starter.communicate(timeout=30)

    assert starter.returncode != 0
    assert "KeyboardInterrupt" in stderr
    assert not is_alive(record.pid)
    _assert_nothing_runs(project)


def test_sigterm_to_a_cli_start_rolls_back_like_ctrl_c(project: Project) -> None:
    """A CI cancel or ``timeout`` sends SIGTERM: the start stops what it started and says so,
    exit 128 + 15 (before, it died at once and left the half-started stack running)."""
    gate = project.root / "gate"  # never created
    _write_app(project, "--say", "app up", probe=file_probe(gate), startup_timeout=30)
    with CliStart(project.root) as start:
        wait_for_text(_paths(project).log("app"), "app up")
        wait_for_file(_paths(project).record("app"))
        record = _record(project)

        start.proc.send_signal(signal.SIGTERM)
        code, output = start.finish()

    assert code == 128 + signal.SIGTERM, output
    assert re.search(r"\bapp\s+rollback\b", output), output
    assert "realstack: interrupted; what this run started was stopped" in output
    assert not is_alive(record.pid)
    _assert_nothing_runs(project)


def test_a_second_ctrl_c_does_not_cut_the_rollback_short(project: Project) -> None:
    """People press Ctrl-C twice. The second, during the rollback, is held off: the rollback
    runs to its end (here: its SIGKILL, the app ignores SIGTERM) and what is said is true."""
    gate = project.root / "gate"  # never created
    _write_app(
        project,
        "--ignore-term",
        "--say",
        "app up",
        probe=file_probe(gate),
        startup_timeout=30,
        stop_timeout=2,
    )
    with CliStart(project.root) as start:
        wait_for_text(_paths(project).log("app"), "app up")
        wait_for_file(_paths(project).record("app"))
        record = _record(project)

        start.proc.send_signal(signal.SIGINT)
        start.wait_for_line(r"\bapp\s+rollback\b")
        start.proc.send_signal(signal.SIGINT)  # during the 2 s the app takes to ignore SIGTERM
        start.proc.send_signal(signal.SIGINT)
        code, output = start.finish()

    assert code == 130, output
    assert "realstack: interrupted; what this run started was stopped" in output
    assert not is_alive(record.pid)
    _assert_nothing_runs(project)


def test_stop_finds_unrecorded_orphan_by_marker(
    project: Project, starters: list[subprocess.Popen[str]]
) -> None:
    """A service whose record never got written (starter killed first) is stopped by its marker."""
    record = _sigkill_starter_mid_start(project, starters)
    _lose_record(project)
    [row] = status(project.stack(), probe=False)
    assert (row.state, row.pid) == ("orphan", record.pid)

    report = project.stop()

    assert [(r.name, r.action) for r in report.results] == [("app", "stopped")]
    assert not is_alive(record.pid)
    _assert_nothing_runs(project)


def test_start_replaces_unrecorded_orphan(
    project: Project, starters: list[subprocess.Popen[str]]
) -> None:
    """Start stops an unrecorded orphan of the same service before it spawns a fresh one."""
    record = _sigkill_starter_mid_start(project, starters)
    _lose_record(project)
    (project.root / "gate").touch()

    report = project.start()

    assert report.ok, report.errors
    [result] = report.results
    assert result.action == "started"
    assert not is_alive(record.pid)
    assert [p.pid for p in marked(str(project.root))] == [result.pid]


def test_start_after_state_dir_was_wiped_takes_over_its_orphan(project: Project) -> None:
    """A running service whose state dir was deleted (git clean -fdX) is ours, not foreign."""
    _write_app(project, "--port", "{port}")
    first = project.start()
    assert first.ok, first.errors
    old_pid = first.results[0].pid
    assert old_pid is not None
    shutil.rmtree(project.state)  # records, intents, lock: all gone; the process runs on
    [row] = status(project.stack(), probe=False)
    assert (row.state, row.pid) == ("orphan", old_pid)

    report = project.start()

    assert report.ok, report.errors  # not PortInUse("realstack did not start it")
    [result] = report.results
    assert result.action == "started"
    assert not is_alive(old_pid)
    assert [p.pid for p in marked(str(project.root))] == [result.pid]


# --------------------------------------------------------------------------- healthy stacks


def test_second_start_reuses_healthy_service(project: Project) -> None:
    """Starting again while everything is healthy starts nothing: same pid, action 'reused'."""
    _write_app(project, "--port", "{port}")
    first = project.start()
    assert first.ok, first.errors

    second = project.start()

    assert second.ok, second.errors
    assert [(r.action, r.pid) for r in first.results] == [("started", first.results[0].pid)]
    assert [(r.action, r.pid) for r in second.results] == [("reused", first.results[0].pid)]
    assert [p.pid for p in marked(str(project.root))] == [first.results[0].pid]


def test_process_service_sees_exports_of_its_dependency(project: Project) -> None:
    """A process service gets the env contract: its dependency's exports, the instance id, its
    own env; never REALSTACK_ENV (that would pick realstack's env for anything it runs)."""
    env_out = project.root / "worker-env.json"
    api_port, worker_port = free_port(), free_port()
    project.write(
        service_toml(
            "api",
            [str(SVC), "--port", "{port}"],
            port_var="API_PORT",
            extra={"exports": '{API_URL = "http://{host}:{port}/api"}'},
        )
        + service_toml(
            "worker",
            [str(SVC), "--env-out", str(env_out), "--port", "{port}"],
            port_var="WORKER_PORT",
            extra={"depends_on": '["api"]', "env": '{WORKER_ROLE = "consumer"}'},
        ),
        {"API_PORT": str(api_port), "WORKER_PORT": str(worker_port)},
    )

    report = project.start()

    assert report.ok, report.errors
    env = json.loads(env_out.read_text())
    assert env["API_URL"] == f"http://localhost:{api_port}/api"
    assert env["REALSTACK_INSTANCE_ID"] == project.stack().instance_id
    assert "REALSTACK_ENV" not in env
    assert env["WORKER_ROLE"] == "consumer"
    assert env[OWNER_VAR].endswith("::worker")


def test_an_app_gets_the_manifest_env_not_the_callers_shell(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A variable planted in the shell that starts the stack (a secret, say) never reaches a
    service; the documented base (PATH, HOME, LANG …) does."""
    monkeypatch.setenv("PLANTED_CLOUD_TOKEN", "do-not-leak")
    env_out = project.root / "app-env.json"
    project.write(
        service_toml(
            "app", [str(SVC), "--env-out", str(env_out), "--port", "{port}"], port_var="APP_PORT"
        ),
        {"APP_PORT": str(free_port())},
    )

    report = project.start()

    assert report.ok, report.errors
    env = json.loads(env_out.read_text())
    assert "PLANTED_CLOUD_TOKEN" not in env
    assert env["PATH"] == os.environ["PATH"]


def test_inherit_env_lets_the_named_variables_through(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``inherit_env = ["NAME"]`` passes exactly that variable on; the rest still stays out."""
    monkeypatch.setenv("APP_PROFILE", "ci")
    monkeypatch.setenv("PLANTED_CLOUD_TOKEN", "do-not-leak")
    env_out = project.root / "app-env.json"
    project.write(
        service_toml(
            "app",
            [str(SVC), "--env-out", str(env_out), "--port", "{port}"],
            port_var="APP_PORT",
            extra={"inherit_env": '["APP_PROFILE"]'},
        ),
        {"APP_PORT": str(free_port())},
    )

    report = project.start()

    assert report.ok, report.errors
    env = json.loads(env_out.read_text())
    assert env["APP_PROFILE"] == "ci"
    assert "PLANTED_CLOUD_TOKEN" not in env
