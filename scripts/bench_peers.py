#!/usr/bin/env python3
"""Peers benchmark: realstack beside pytest-postgresql + pytest-redis, pytest-databases and
testcontainers, on this machine, in one run (``nox -s bench -- --peers``).

Two figures per tool, each from real pytest processes (the suites: ``bench_peers_suites.py``):

- first test: from launching the process(es) with no server running to the first line of a
  one-test suite that needs PostgreSQL and Redis (wall clock; the test writes the time);
- per fresh database: N tests that each get a database of their own with the same small
  migrated schema: the time between consecutive tests' first lines once what a tool made
  ahead is spent, i.e. the steady cost of one teardown plus one setup. Work queued after the
  last test counts for nobody. realstack's tests sit outside its strict suites here (the
  audit and log marks are not what is measured; the first-test suite is strict).

Before the counted rounds, each tool runs its first test once: bytecode is written (a shell's
PYTHONDONTWRITEBYTECODE is not passed on) and realstack's per-user initdb cache is filled, as
on a machine where the suite ran before; the "first on the machine" row starts without it.

The tools take turns, round by round (a shared machine's load shifts by the minute; a tool
measured minutes after another would be compared with another machine). A peer that cannot
run here gets the reason in its row, never a figure. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bench_peers_run import (
    FLAGS,
    Row,
    Runner,
    Unavailable,
    blocked,
    docker_ready,
    free_port,
    print_table,
)

from realstack import orchestrator
from realstack.manifest import load_stack
from realstack.pgcluster import run_as_user

MANIFEST = """
[tool.realstack]
[tool.realstack.services.postgres]
kind = "postgres"
port = "{pg}"
user = "bench"
password = "bench"
database = "bench"
durable = false
[tool.realstack.services.redis]
kind = "redis"
port = "{redis}"
durable = false
"""
# pytest-postgresql runs initdb, which refuses root: as root its runs use this user, with the
# system's python3.11 on this interpreter's packages (the venv's own python is under /root)
BOOT = "import site,sys; site.addsitedir(sys.argv.pop(1)); import pytest; sys.exit(pytest.main())"


Figures = dict[tuple[str, str], float]  # (row, "first" | "fresh") → one round's figure
Step = Callable[[], Figures]
REALSTACK = "realstack --realstack-start, empty project"
COLD = "realstack, the same, first on the machine"
KEPT = "realstack --realstack-start, data kept"
VIA_CLI = "realstack services.start --wait; pytest"
PG_CONN = "(reference) pg_conn on the worker db"
ALONE = "(reference) pytest alone, no services"
PG = "pytest-postgresql + pytest-redis"
WHO = "" if os.geteuid() else f"; runs as {run_as_user()} (initdb refuses root)"
ROWS = (  # row, tool, how, a realstack row
    (REALSTACK, "realstack", "initdb cached; fresh_pg_conn: clone + connection made ahead", True),
    (COLD, "realstack", "no initdb cached yet (REALSTACK_CACHE_DIR empty)", True),
    (KEPT, "realstack", "", True),
    (VIA_CLI, "realstack", "", True),
    (PG_CONN, "realstack", "rolled back, no new db", False),
    (PG, "pytest-postgresql", "postgresql fixture: template clone per test" + WHO, False),
    ("pytest-databases", "pytest-databases", "hand-written clone per test", False),
    ("testcontainers", "testcontainers", "a container per test (N={n})", False),
    (ALONE, "pytest", "", False),
)


def _project(r: Runner) -> Path:
    """A realstack project of its own: postgres + redis on free ports, nothing started."""
    root = r.suite("realstack")
    (root / "pyproject.toml").write_text(MANIFEST.format(pg=free_port(), redis=free_port()))
    (root / "envs").mkdir()
    (root / "envs" / "test.env").write_text("")
    (root / "tasks.py").write_text("from realstack.tasks import namespace as ns  # noqa: F401\n")
    return root


def _realstack_first(r: Runner) -> Figures:
    """One round: an empty project, again with its data kept, then through the CLI; and an
    empty project on a machine without the cached initdb."""
    py = [sys.executable, "-m", "pytest", *FLAGS, *blocked("realstack")]
    cli = [sys.executable, "-m", "invoke", "--search-root"]
    root = _project(r)
    test = [*py, "--realstack-start", "e2e/test_first.py"]
    empty = r.first_test(test, root)  # a copy of the cached initdb
    kept = r.first_test(test, root)
    start = [*cli, str(root), "services.start", "--wait"]
    via_cli = r.first_test([*py, "e2e/test_first.py"], root, before=start)
    r.run([*cli, str(root), "services.stop", "--purge"], root)
    cold_root = _project(r)
    cache = {"REALSTACK_CACHE_DIR": str(cold_root / "cache")}
    cold = r.first_test(test, cold_root, env=cache)  # initdb first
    r.run([*cli, str(cold_root), "services.stop", "--purge"], cold_root, env=cache)
    shutil.rmtree(cold_root / "cache", ignore_errors=True)  # (none: a realstack without it)
    return {
        (REALSTACK, "first"): empty,
        (KEPT, "first"): kept,
        (VIA_CLI, "first"): via_cli,
        (COLD, "first"): cold,
    }


@contextmanager
def _realstack_running(r: Runner) -> Iterator[Step]:
    """A running stack whose contract database is migrated; yields its fresh-db step."""
    import psycopg  # noqa: PLC0415
    from bench_peers_suites import SCHEMA  # noqa: PLC0415

    py = [sys.executable, "-m", "pytest", *FLAGS, *blocked("realstack")]
    root = _project(r)
    stack = load_stack(root, "test", environ={})
    try:
        orchestrator.start(stack).raise_for_errors()
        with psycopg.connect(stack.service("postgres").url, autocommit=True) as conn:
            conn.execute(SCHEMA)
        yield lambda: {
            (REALSTACK, "fresh"): r.per_db([*py, "tests/test_fresh.py"], root),
            (PG_CONN, "fresh"): r.per_db([*py, "tests/test_shared.py"], root),
        }
    finally:
        orchestrator.stop(stack, purge=True)


def _as_postgres_user(root: Path) -> list[str]:
    if os.geteuid() != 0:
        return [sys.executable, "-m", "pytest"]
    user = run_as_user() or "postgres"
    python = shutil.which("python3.11", path="/usr/bin:/usr/local/bin")
    if python is None or shutil.which("runuser") is None:
        raise Unavailable("refuses root, and no runuser + system python3.11 to run it as a user")
    subprocess.run(["chown", "-R", user, str(root)], check=True)
    site = sysconfig.get_paths()["purelib"]
    return ["runuser", "-u", user, "--", python, "-c", BOOT, site]


def _peer(r: Runner, tool: str) -> tuple[Step, Step]:
    """A peer's two steps on its suite (raises Unavailable when it cannot run here)."""
    root = r.suite(tool)
    row = PG if tool == "pytest-postgresql" else tool
    if tool == "pytest-postgresql":
        py = [*_as_postgres_user(root), *FLAGS, *blocked("pytest_postgresql", "pytest_redis")]
    else:
        docker_ready(tool)
        using = ("pytest_databases",) if tool == "pytest-databases" else ()
        py = [sys.executable, "-m", "pytest", *FLAGS, *blocked(*using)]
    return (
        lambda: {(row, "first"): r.first_test([*py, "test_first.py"], root)},
        lambda: {(row, "fresh"): r.per_db([*py, "test_fresh.py"], root)},
    )


def _interleave(
    steps: dict[str, Step],
    rounds: int,
    figures: dict[tuple[str, str], list[float]],
    failed: dict[str, str],
) -> None:
    """Each tool's step once a round, the order reversed every other round."""
    for i in range(rounds):
        for tool in list(steps)[:: 1 if i % 2 == 0 else -1]:
            if tool in failed:
                continue
            try:
                for key, value in steps[tool]().items():
                    figures.setdefault(key, []).append(value)
            except Unavailable as exc:
                failed[tool] = str(exc)


def add_peer_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--peers",
        action="store_true",
        help="only: time to the first test and per fresh database beside pytest-postgresql + "
        "pytest-redis, pytest-databases and testcontainers (scripts/bench_peers.py)",
    )
    parser.add_argument("--peers-rounds", type=int, default=3, help="runs per tool and figure")
    parser.add_argument("--peers-tests", type=int, default=30, help="tests per fresh-db run")
    parser.add_argument(
        "--peers-container-tests", type=int, default=6, help="testcontainers: containers per run"
    )


def peers(tests: int = 30, rounds: int = 3, container_tests: int = 6) -> None:
    work = Path(tempfile.mkdtemp(prefix="realstack-bench-peers-"))
    work.chmod(0o755)
    r = Runner(work, tests, container_tests)
    figures: dict[tuple[str, str], list[float]] = {}
    failed: dict[str, str] = {}
    t0 = time.perf_counter()
    try:
        alone = r.suite("realstack")
        (alone / "e2e" / "test_first.py").write_text(
            "from _bench import mark\n\ndef test_first():\n    mark('first')\n"
        )
        plain = [sys.executable, "-m", "pytest", *FLAGS, *blocked(), "e2e/test_first.py"]
        first: dict[str, Step] = {
            "pytest": lambda: {(ALONE, "first"): r.first_test(plain, alone)},
            "realstack": lambda: _realstack_first(r),
        }
        fresh: dict[str, Step] = {}
        for tool in ("pytest-postgresql", "pytest-databases", "testcontainers"):
            try:
                first[tool], fresh[tool] = _peer(r, tool)
            except Unavailable as exc:
                failed[tool] = str(exc)
        _interleave(first, 1, {}, failed)  # not counted: bytecode and caches, as a user has them
        _interleave(first, rounds, figures, failed)
        with _realstack_running(r) as realstack_fresh:
            _interleave({"realstack": realstack_fresh, **fresh}, rounds, figures, failed)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = []
    for row, tool, how, mine in ROWS:
        first_s, fresh_ms = (figures.get((row, c), []) for c in ("first", "fresh"))
        note = f"n/a: {failed[tool]}" if tool in failed else how.format(n=container_tests)
        rows.append(Row(row, _median(first_s), _median(fresh_ms), note, mine=mine))
    print_table(rows, tests, rounds, time.perf_counter() - t0)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None
