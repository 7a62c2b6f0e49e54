"""The user-facing commands, run as a user runs them: subprocesses in the project root.

``invoke`` finds the project's ``tasks.py``; ``realstack`` is the console script; the seeds'
``scripts/start_backend_services.py`` runs from the repository. Nothing from the outer
environment (REALSTACK_*, the manifest's variables) leaks into them.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest

import realstack
from conftest import Project
from import_guard import loaded_by
from integration._support import (
    MANIFEST,
    MANIFEST_VARS,
    PASSWORD,
    SERVICES,
    containers_of,
    processes_owned_by,
    server_log,
    still_running,
    write_manifest,
)
from realstack.envfile import contract
from realstack.waiting import wait_until

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
START_SCRIPT = REPO / "scripts" / "start_backend_services.py"
TASKS_PY = "from realstack.tasks import namespace as ns\n"


def console_script(name: str) -> str:
    """The console script installed beside this interpreter (what ``pip install`` put there)."""
    path = Path(sys.executable).parent / name
    assert os.access(path, os.X_OK), f"{name} is not installed beside {sys.executable}"
    return str(path)


INVOKE = console_script("invoke")
REALSTACK = console_script("realstack")


def clean_environ() -> dict[str, str]:
    """The caller's environment without realstack's or the manifest's variables."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("REALSTACK_") and k not in MANIFEST_VARS
    }


def run(project: Project, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run a command in the project root; never raises on a non-zero exit."""
    return subprocess.run(
        argv,
        cwd=project.root,
        env=clean_environ(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def invoke(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    return run(project, INVOKE, *args)


def invoke_ok(
    project: Project, env: dict[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``invoke <args>`` in the project root with ``env`` (a registry or an engine of the
    test's own); it must exit 0."""
    done = subprocess.run(
        [INVOKE, *args],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def succeeded(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def failed_cleanly(done: subprocess.CompletedProcess[str], code: int) -> str:
    """Assert exit ``code`` with a message and no traceback; return stderr."""
    assert done.returncode == code, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stderr.strip(), "a failure must say why on stderr"
    return done.stderr


def write_project(project: Project, manifest: str = MANIFEST) -> Project:
    """The two-service manifest on free ports, plus the two-line ``tasks.py``."""
    write_manifest(project, manifest)
    (project.root / "tasks.py").write_text(TASKS_PY)
    return project


def status_json(project: Project) -> dict[str, dict[str, Any]]:
    """``invoke services.status --json``, by service name."""
    data = json.loads(succeeded(invoke(project, "services.status", "--json")).stdout)
    return {row["name"]: row for row in data["services"]}


def lines_with(text: str, *words: str) -> list[str]:
    """Lines of ``text`` containing every one of ``words`` as a whole word."""
    return [line for line in text.splitlines() if set(words) <= set(line.split())]


def is_run_of_lines(lines: list[str], log: str) -> bool:
    """Whether ``lines`` are consecutive, complete lines of the text ``log``."""
    whole = log.splitlines()
    n = len(lines)
    return any(whole[i : i + n] == lines for i in range(len(whole) - n + 1))


@pytest.fixture(scope="module")
def cli(module_project: Project) -> Project:
    """The shared project: postgres + redis on free ports, with a two-line tasks.py."""
    return write_project(module_project)


@pytest.fixture
def up(cli: Project) -> Project:
    """The shared project with the stack started (or reused) through the CLI."""
    succeeded(invoke(cli, "services.start", "--wait"))
    return cli


# --------------------------------------------------------------------------- the lifecycle


def test_start_wait_exits_0_and_reports_each_service_ready(cli: Project) -> None:
    """`invoke services.start --wait` from nothing prints a "ready" line per service."""
    succeeded(invoke(cli, "services.stop"))
    done = succeeded(invoke(cli, "services.start", "--wait"))
    for name in SERVICES:
        assert lines_with(done.stdout, name, "ready"), done.stdout


def test_start_again_reports_each_service_reused(up: Project) -> None:
    """A second `services.start --wait` reuses what runs and says so per service."""
    done = succeeded(invoke(up, "services.start", "--wait"))
    for name in SERVICES:
        assert lines_with(done.stdout, name, "reused"), done.stdout
        assert not lines_with(done.stdout, name, "ready"), done.stdout


def test_a_warm_start_takes_no_lock_and_loads_no_client_library(up: Project) -> None:
    """A start with nothing to do answers without the instance lock (filelock is never
    imported) and probes without a client library; so does `status` of the running stack."""
    watched = ("filelock", "psycopg", "redis", "httpx")
    env = clean_environ()
    assert loaded_by(up.root, ["services.start", "--wait"], watched, env) == set()
    assert loaded_by(up.root, ["services.status"], watched, env) == set()


def test_status_json_shows_each_service_ours_with_its_pid(up: Project) -> None:
    """`services.status --json` parses; every service is "ours", healthy, with the live pid
    (docker: the container id its record names)."""
    rows = status_json(up)
    assert set(rows) == set(SERVICES)
    for name, row in rows.items():
        record = json.loads((up.state / "services" / f"{name}.json").read_text())
        assert row["state"] == "ours", row
        if "container_id" in record:
            assert (row["pid"], row["container"]) == (None, record["container_id"])
        else:
            assert row["pid"] == record["pid"]
            assert still_running(row["pid"])
        assert row["health"] == "healthy", row
        assert row["port"] == up.stack().service(name).port


def test_status_prints_a_table_with_a_row_per_service(up: Project) -> None:
    """`services.status` prints a header and one row per service with state and pid (docker:
    the container's short id)."""
    done = succeeded(invoke(up, "services.status"))
    assert lines_with(done.stdout, "SERVICE", "STATE", "PID", "PORT", "HEALTH")
    for name, row in status_json(up).items():
        ident = str(row["pid"]) if row["pid"] is not None else row["container"][:12]
        assert lines_with(done.stdout, name, "ours", ident, str(row["port"]))


def test_env_show_shell_prints_export_lines_of_the_contract(up: Project) -> None:
    """`env.show --format shell` prints `export NAME=value` lines a shell can eval (the
    contract of what runs: the stack is started, not left to an earlier test)."""
    done = succeeded(invoke(up, "env.show", "--format", "shell"))
    lines = done.stdout.splitlines()
    assert lines
    assert all(line.startswith("export ") for line in lines), done.stdout
    assert any(line.startswith("export DATABASE_URL=") for line in lines)
    parsed = dict(shlex.split(line)[1].split("=", 1) for line in lines)
    assert parsed == contract(up.stack())


def test_evaluating_another_envs_contract_does_not_switch_realstacks_env(cli: Project) -> None:
    """After `eval "$(invoke env.show --env dev --format shell)"`, status still acts on test:
    the contract says where services are, never which env realstack's commands use."""
    dev = cli.root / "envs" / "dev.env"
    dev.write_text((cli.root / "envs" / "test.env").read_text())
    try:  # dev's redis runs (on a port of its own lease): its contract is not empty
        succeeded(invoke(cli, "services.start", "--env", "dev", "--only", "redis", "--wait"))
        shown = succeeded(invoke(cli, "env.show", "--env", "dev", "--format", "shell")).stdout
    finally:
        succeeded(invoke(cli, "services.stop", "--env", "dev"))
        dev.unlink()  # the module's project has only `test` for the other tests
    assert "export REDIS_URL=" in shown
    evaluated = subprocess.run(
        ["bash", "-c", f"{shown}\nexec env -0"],
        env=clean_environ(),
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout.decode()
    after_eval = dict(line.split("=", 1) for line in evaluated.split("\0") if "=" in line)
    assert "REALSTACK_ENV" not in after_eval
    done = subprocess.run(
        [INVOKE, "services.status"],
        cwd=cli.root,
        env=after_eval,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.startswith("realstack [test] "), done.stdout


def test_env_show_of_a_stopped_stack_fails_and_prints_nothing_to_eval(cli: Project) -> None:
    """`eval "$(invoke env.show -f shell)"` in a script with `set -e` stops there when nothing
    runs (exit 1, what starts it on stderr), instead of going on with no DATABASE_URL."""
    succeeded(invoke(cli, "services.stop"))

    done = invoke(cli, "env.show", "--format", "shell")

    stderr = failed_cleanly(done, 1)
    assert done.stdout == ""
    assert "nothing of env 'test' runs: `invoke services.start --wait --env test`" in stderr


def test_env_show_json_parses_to_the_contract(up: Project) -> None:
    """`env.show --format json` is JSON with the service URLs and the instance id."""
    values = json.loads(succeeded(invoke(up, "env.show", "--format", "json")).stdout)
    assert values == contract(up.stack())
    assert values["REALSTACK_INSTANCE_ID"] == up.stack().instance_id
    assert "REALSTACK_ENV" not in values
    assert values["REDIS_URL"].endswith("/2")
    assert values["DATABASE_URL"].startswith(f"postgresql://app_user:{quote(PASSWORD, safe='')}@")


def test_logs_prints_the_last_lines_of_the_service_log(up: Project) -> None:
    """`services.logs postgres --lines 5` prints up to five lines of PostgreSQL's own log."""
    done = succeeded(invoke(up, "services.logs", "postgres", "--lines", "5"))
    lines = done.stdout.splitlines()
    assert 1 <= len(lines) <= 5, done.stdout
    assert is_run_of_lines(lines, server_log(up, "postgres"))


def test_logs_task_and_python_api_agree(up: Project) -> None:
    """`services.logs` and `realstack.logs` read the same source (a container's own log too)."""
    before = realstack.logs("postgres", 5, root=up.root)
    done = succeeded(invoke(up, "services.logs", "postgres", "--lines", "5"))
    after = realstack.logs("postgres", 5, root=up.root)
    # PostgreSQL may log a line (a checkpoint) while the command runs: either read matches
    assert done.stdout.splitlines() in (before, after)


def test_logs_prints_long_lines_whole(up: Project) -> None:
    """A long PostgreSQL log line (a failed statement) comes out whole, not cut mid-line."""
    literal = "long-" + "z" * 3000
    with (
        psycopg.connect(contract(up.stack())["DATABASE_URL"], autocommit=True) as conn,
        pytest.raises(psycopg.errors.DivisionByZero),
    ):
        conn.execute(f"SELECT 1/0, '{literal}'")  # PostgreSQL logs the ERROR and the STATEMENT
    wait_until(
        lambda: None if literal in server_log(up, "postgres") else "statement not logged yet", 10
    )
    done = succeeded(invoke(up, "services.logs", "postgres", "--lines", "2"))
    lines = done.stdout.splitlines()
    assert len(lines) == 2, f"{len(lines)} line(s), starting {done.stdout[:80]!r}"
    assert "ERROR:  division by zero" in lines[0]
    assert lines[1].endswith(f"STATEMENT:  SELECT 1/0, '{literal}'")
    assert is_run_of_lines(lines, server_log(up, "postgres"))


def _identity(row: dict[str, Any]) -> tuple[object, object]:
    """What a running service is: its pid, or (docker) its container id."""
    return (row["pid"], row["container"])


def test_restart_gives_redis_a_new_process_and_leaves_it_healthy(up: Project) -> None:
    """`services.restart redis` replaces the Redis process (or container) only; Redis answers
    afterwards."""
    before = status_json(up)
    succeeded(invoke(up, "services.restart", "redis"))
    after = status_json(up)
    assert _identity(after["redis"]) != _identity(before["redis"])
    assert after["redis"]["state"] == "ours"
    assert after["redis"]["health"] == "healthy"
    assert _identity(after["postgres"]) == _identity(before["postgres"])
    if before["redis"]["pid"] is not None:
        assert not still_running(before["redis"]["pid"])


def test_status_check_exits_1_naming_what_is_not_healthy_and_0_once_it_is(up: Project) -> None:
    """`services.status --check` is a health check for scripts: exit 0 while the stack is as a
    start leaves it; a service stopped: exit 1, naming it on stderr (the table still prints)."""
    succeeded(invoke(up, "services.status", "--check"))
    succeeded(invoke(up, "services.stop", "--only", "redis"))
    try:
        done = invoke(up, "services.status", "--check")
        stderr = failed_cleanly(done, 1)
        assert "redis (down" in stderr, stderr
        assert "postgres" not in stderr, stderr
        assert lines_with(done.stdout, "redis", "down"), done.stdout
        assert invoke(up, "services.status").returncode == 0  # without --check: a report
    finally:
        succeeded(invoke(up, "services.start", "--wait"))
    succeeded(invoke(up, "services.status", "--check", "--json"))


def test_stop_exits_0_and_status_shows_every_service_down(up: Project) -> None:
    """`services.stop` ends the stack; status then shows every service "down"."""
    running = status_json(up)
    succeeded(invoke(up, "services.stop"))
    rows = status_json(up)
    assert {name: row["state"] for name, row in rows.items()} == dict.fromkeys(SERVICES, "down")
    pids = [r["pid"] for r in running.values() if r["pid"] is not None]
    assert [pid for pid in pids if still_running(pid)] == []
    assert processes_owned_by(up.root) == []
    assert containers_of(up) == []


# --------------------------------------------------------------------------- mistakes → exit 2


def test_unknown_dependency_exits_2_naming_the_field_path(project: Project) -> None:
    """A depends_on naming no service is a usage error that points at the field."""
    broken = MANIFEST.replace('database = "2"', 'database = "2"\ndepends_on = ["nope"]')
    write_project(project, broken)
    stderr = failed_cleanly(invoke(project, "services.start", "--wait"), 2)
    assert "tool.realstack.services.redis.depends_on[0]" in stderr
    assert "'nope'" in stderr
    assert processes_owned_by(project.root) == []


def test_unknown_env_exits_2_naming_the_known_envs(cli: Project) -> None:
    """`--env nope` is a usage error that lists the envs that exist."""
    stderr = failed_cleanly(invoke(cli, "services.start", "--env", "nope"), 2)
    assert "nope" in stderr
    assert "known: test" in stderr


def test_env_show_with_an_unknown_format_exits_2(cli: Project) -> None:
    """`env.show --format yaml` is a usage error naming the formats there are."""
    stderr = failed_cleanly(invoke(cli, "env.show", "--format", "yaml"), 2)
    assert "yaml" in stderr
    assert "dotenv" in stderr


def test_start_only_an_unknown_service_exits_2(cli: Project) -> None:
    """`services.start --only nope` is a usage error naming the known services."""
    stderr = failed_cleanly(invoke(cli, "services.start", "--only", "nope"), 2)
    assert "'nope'" in stderr
    assert "postgres" in stderr
    assert "redis" in stderr


def test_realstack_command_maps_an_unknown_flag_to_exit_2(cli: Project) -> None:
    """`realstack services.status --bogus`: invoke's parse error becomes exit 2."""
    stderr = failed_cleanly(run(cli, REALSTACK, "services.status", "--bogus"), 2)
    assert "--bogus" in stderr


# --------------------------------------------------------------------------- service failure → 1


def test_foreign_listener_on_the_postgres_port_fails_start_with_exit_1(project: Project) -> None:
    """A port held by someone else fails the start (exit 1), names the port, leaves nothing."""
    write_project(project)
    port = project.stack().service("postgres").port
    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", port))
        foreign.listen()
        stderr = failed_cleanly(invoke(project, "services.start", "--wait"), 1)
        assert str(port) in stderr
        assert "in use" in stderr
        assert processes_owned_by(project.root) == []
        assert containers_of(project) == []
        rows = status_json(project)
        assert rows["postgres"]["state"] == "foreign"
        assert rows["redis"]["state"] == "down"
    assert list((project.state / "services").iterdir()) == []


# --------------------------------------------------------------------------- the seeds' script


def test_start_backend_services_script_starts_reports_and_stops(cli: Project) -> None:
    """`--wait-for-health`, `--status` and `--stop` from the repository all exit 0."""
    script = (sys.executable, str(START_SCRIPT))
    succeeded(run(cli, *script, "--wait-for-health"))
    assert {row["state"] for row in status_json(cli).values()} == {"ours"}
    status = succeeded(run(cli, *script, "--status"))
    for name in SERVICES:
        assert lines_with(status.stdout, name, "ours"), status.stdout
    succeeded(run(cli, *script, "--stop"))
    assert {row["state"] for row in status_json(cli).values()} == {"down"}


def test_start_backend_services_script_without_an_action_exits_2(cli: Project) -> None:
    """With no action flag the script is a usage error."""
    stderr = failed_cleanly(run(cli, sys.executable, str(START_SCRIPT)), 2)
    assert "--wait-for-health" in stderr
