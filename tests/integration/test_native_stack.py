"""Native PostgreSQL and Redis through realstack, checked against the real servers.

One project (two services on OS-assigned ports) serves most tests; each test brings it to the
state it needs first (the ``running`` fixture starts or reuses, a stop test stops it itself).
Native details (processes, users, fsync, data dirs): the manifest pins ``provider = "native"``,
so REALSTACK_PROVIDER=docker does not move these servers into containers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import uuid
from dataclasses import dataclass, replace
from urllib.parse import quote

import psutil
import psycopg
import pytest
import redis
from dotenv import dotenv_values
from psycopg import sql

from conftest import Project
from import_guard import CLIENTS, ENGINE, loaded_by
from integration._support import (
    MANIFEST_VARS,
    NATIVE_MANIFEST,
    PASSWORD,
    SERVICES,
    write_manifest,
)
from realstack import probes
from realstack.manifest import load_stack
from realstack.orchestrator import start
from realstack.results import Report

pytestmark = pytest.mark.integration


def runtime_env(project: Project) -> dict[str, str]:
    """The env contract as another process reads it: runtime.env through python-dotenv."""
    values = dotenv_values(project.state / "runtime.env")
    return {k: v for k, v in values.items() if v is not None}


def actions(report: Report) -> dict[str, str]:
    return {r.name: r.action for r in report.results}


def pids(report: Report) -> dict[str, int]:
    return {r.name: r.pid for r in report.results if r.pid is not None}


def port_of(project: Project, service: str) -> int:
    return project.stack().service(service).port


def answers(port: int) -> bool:
    """Whether anything accepts a TCP connection on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def listening_addresses(pid: int) -> set[tuple[str, int]]:
    """(ip, port) of every socket process ``pid`` listens on (IPv4 and IPv6)."""
    return {
        (c.laddr.ip, c.laddr.port)
        for c in psutil.Process(pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.laddr
    }


def listeners_on(port: int) -> set[str]:
    """Every address any process on this machine listens on with ``port``."""
    return {
        c.laddr.ip
        for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
    }


def pg_value(url: str, query: str) -> object:
    """The single value ``query`` returns."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def redis_config(url: str, name: str) -> str | None:
    """The server's ``CONFIG GET name`` value."""
    with redis.Redis.from_url(url, decode_responses=True) as client:
        reply = client.config_get(name)
    assert isinstance(reply, dict)
    return reply.get(name)


@dataclass(frozen=True)
class Running:
    """A started stack: its project and the report of the start (or reuse)."""

    project: Project
    report: Report

    @property
    def env(self) -> dict[str, str]:
        return runtime_env(self.project)


@pytest.fixture(scope="module")
def native(module_project: Project) -> Project:
    """The shared project: postgres + redis, non-durable, on free ports."""
    return write_manifest(module_project, NATIVE_MANIFEST)


@pytest.fixture
def running(native: Project) -> Running:
    """The shared project with both services up (started now, or reused)."""
    report = native.start()
    assert report.ok, report.errors
    return Running(native, report)


# --------------------------------------------------------------------------- start and connect


def test_start_from_nothing_reports_both_services_started(native: Project) -> None:
    """A start with nothing running starts both services and reports their pids and ports."""
    native.stop()
    report = native.start()
    assert report.ok, report.errors
    assert actions(report) == {"postgres": "started", "redis": "started"}
    assert set(pids(report)) == set(SERVICES)
    assert {r.name: r.port for r in report.results} == {s: port_of(native, s) for s in SERVICES}


def test_database_url_from_runtime_env_connects_as_the_manifest_user_and_database(
    running: Running,
) -> None:
    """DATABASE_URL (password URL-quoted) reaches the real server as app_user on app_db."""
    url = running.env["DATABASE_URL"]
    assert f"app_user:{quote(PASSWORD, safe='')}@" in url, "the password must be URL-quoted"
    with psycopg.connect(url) as conn:
        row = conn.execute("select current_user, current_database()").fetchone()
    assert row == ("app_user", "app_db")


def test_redis_url_from_runtime_env_answers_ping_on_database_2(running: Running) -> None:
    """REDIS_URL reaches the real server, which answers PING and puts the client on db 2."""
    url = running.env["REDIS_URL"]
    with redis.Redis.from_url(url) as client:
        assert client.ping() is True
        info = client.client_info()
    assert isinstance(info, dict)
    assert int(info["db"]) == 2


def test_second_start_reuses_the_running_processes(running: Running) -> None:
    """Starting again changes nothing: same pids, action "reused"."""
    again = running.project.start()
    assert again.ok, again.errors
    assert actions(again) == {"postgres": "reused", "redis": "reused"}
    assert pids(again) == pids(running.report)


# --------------------------------------------------------------------------- how the servers run


def test_postgres_runs_as_a_non_root_user(running: Running) -> None:
    """PostgreSQL refuses root, so as root realstack runs it (and its workers) as another user."""
    server = psutil.Process(pids(running.report)["postgres"])
    users = effective_uids([server, *server.children(recursive=True)])
    assert len(users) > 1, "a running postmaster has worker processes"
    assert [pid for pid, uid in users.items() if uid == 0] == []
    assert server.username() != "root"
    if os.geteuid() != 0:  # as a normal user PostgreSQL simply runs as that user
        assert server.uids().effective == os.geteuid()


def effective_uids(procs: list[psutil.Process]) -> dict[int, int]:
    """pid → effective uid of each process still there when asked: a postmaster's short-lived
    workers (autovacuum, a finished backend) may exit between the listing and the read."""
    users = {}
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            users[proc.pid] = proc.uids().effective
    return users


def test_both_servers_listen_only_on_loopback(running: Running) -> None:
    """Each server listens on 127.0.0.1 at its port and on no other address."""
    for name, pid in pids(running.report).items():
        port = port_of(running.project, name)
        assert listening_addresses(pid) == {("127.0.0.1", port)}, name
        assert listeners_on(port) == {"127.0.0.1"}, name
    assert pg_value(running.env["DATABASE_URL"], "SHOW listen_addresses") == "127.0.0.1"
    assert redis_config(running.env["REDIS_URL"], "bind") == "127.0.0.1"


def test_non_durable_services_skip_fsync_and_persistence(running: Running) -> None:
    """durable = false: PostgreSQL fsync is off, Redis neither snapshots nor appends."""
    assert pg_value(running.env["DATABASE_URL"], "SHOW fsync") == "off"
    assert pg_value(running.env["DATABASE_URL"], "SHOW synchronous_commit") == "off"
    assert redis_config(running.env["REDIS_URL"], "save") == ""
    assert redis_config(running.env["REDIS_URL"], "appendonly") == "no"


def test_durable_services_fsync_and_append_when_durable_env_is_true(project: Project) -> None:
    """DURABLE=true in the environment: PostgreSQL fsync is on, Redis appendonly is yes."""
    write_manifest(project, NATIVE_MANIFEST)
    stack = load_stack(project.root, "test", environ={"DURABLE": "true"})
    assert all(s.durable for s in stack.services)
    report = start(stack)
    assert report.ok, report.errors
    env = runtime_env(project)
    assert pg_value(env["DATABASE_URL"], "SHOW fsync") == "on"
    assert redis_config(env["REDIS_URL"], "appendonly") == "yes"


def test_psql_connects_with_database_url(running: Running) -> None:
    """The URL works for libpq's own client too: `psql "$DATABASE_URL" -c 'select 1'`."""
    psql = shutil.which("psql") or "/usr/bin/psql"
    assert os.access(psql, os.X_OK), f"psql is not installed ({psql})"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["DATABASE_URL"] = running.env["DATABASE_URL"]
    done = subprocess.run(
        [psql, env["DATABASE_URL"], "-c", "select 1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "(1 row)" in done.stdout


# --------------------------------------------------------------------------- stop


def test_stop_leaves_no_process_and_closes_both_ports(running: Running) -> None:
    """stop ends every process realstack started (PostgreSQL workers too) and frees the ports."""
    family: list[psutil.Process] = []
    for pid in pids(running.report).values():
        server = psutil.Process(pid)
        family += [server, *server.children(recursive=True)]
    report = running.project.stop()
    assert report.ok, report.errors
    assert actions(report) == {"postgres": "stopped", "redis": "stopped"}
    assert [p for p in family if p.is_running()] == []
    for name in SERVICES:
        assert not answers(port_of(running.project, name)), f"{name} port still answers"
    assert not any(running.project.state.joinpath("services").iterdir()), "records left behind"


def test_stop_keeps_data_for_the_next_start(running: Running) -> None:
    """A row committed before stop is still there after the next start."""
    table = sql.Identifier(f"kept_{uuid.uuid4().hex[:12]}")
    with psycopg.connect(running.env["DATABASE_URL"], autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (body text)").format(table))
        conn.execute(sql.SQL("INSERT INTO {} VALUES ('survives stop')").format(table))
    assert running.project.stop().ok
    again = running.project.start()
    assert actions(again) == {"postgres": "started", "redis": "started"}
    with psycopg.connect(running.env["DATABASE_URL"]) as conn:
        rows = conn.execute(sql.SQL("SELECT body FROM {}").format(table)).fetchall()
    assert rows == [("survives stop",)]


def test_stop_with_purge_deletes_data_and_next_start_is_fresh(running: Running) -> None:
    """stop(purge=True) removes the data dirs; the next start has an empty app database."""
    data = running.project.state / "data"
    with psycopg.connect(running.env["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("CREATE TABLE doomed (body text)")
    report = running.project.stop(purge=True)
    assert report.ok, report.errors
    assert not (data / "postgres").exists()
    assert not (data / "redis").exists()
    again = running.project.start()
    assert again.ok, again.errors
    assert actions(again) == {"postgres": "started", "redis": "started"}
    with psycopg.connect(running.env["DATABASE_URL"]) as conn:
        row = conn.execute(
            "select current_user, current_database(), count(*) from information_schema.tables"
            " where table_schema = 'public'"
        ).fetchone()
    assert row == ("app_user", "app_db", 0)


# --------------------------------------------------------------------------- probes and the CLI


def test_the_postgres_probe_logs_in_as_the_manifest_says(running: Running) -> None:
    """The probe (wire protocol, SCRAM) passes with the manifest's login and says why not
    with a wrong password or database: a server that answers is not enough."""
    svc = running.project.stack().service("postgres")
    assert probes.check_for(svc)() is None
    wrong = probes.check_for(replace(svc, password="not-the-password"))()
    assert wrong is not None and "password authentication failed" in wrong
    missing = probes.check_for(replace(svc, database="no_such_db"))()
    assert missing is not None and "does not exist" in missing


@pytest.mark.parametrize(
    "argv",
    [["services.start", "--wait"], ["services.status"], ["env.show"]],
    ids=["warm start", "status", "env.show"],
)
def test_a_warm_command_loads_no_client_library(running: Running, argv: list[str]) -> None:
    """A warm start probes both servers and ``status`` shows them healthy over plain sockets:
    neither loads psycopg, redis, httpx or docker (issue #15); only a start takes the locks."""
    (running.project.root / "tasks.py").write_text("from realstack.tasks import namespace as ns\n")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("REALSTACK_") and k not in MANIFEST_VARS
    }
    allowed = (
        {"psutil", "filelock", "realstack.orchestrator"}
        if argv[0] == "services.start"
        else {"psutil"}
    )
    watched = tuple(m for m in (*CLIENTS, *ENGINE) if m not in allowed)
    assert loaded_by(running.project.root, argv, watched, env) == set()
