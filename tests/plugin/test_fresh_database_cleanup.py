"""What is left of per-test databases: a failed test's only when asked (its URL, password
masked, in the report), and a killed session's removed when the next one starts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from urllib.parse import quote

import pytest

from plugin.conftest import PASSWORD, Inner, bring_up
from plugin.pgsupport import PREFIX, SEES_PLANS, connect_admin, databases, fresh, migrate
from realstack.waiting import wait_until


@pytest.fixture
def migrated(inner: Inner) -> Inner:
    bring_up(inner.project)
    migrate(inner.project)
    return inner


FAILS = """
    import pathlib

    def test_fails_with_its_database(fresh_pg_conn):
        (database,) = fresh_pg_conn.execute("SELECT current_database()").fetchone()
        pathlib.Path({out!r}).write_text(database)
        assert False, "broken on purpose"
"""


@pytest.mark.parametrize("keep", [False, True], ids=["dropped", "kept-when-asked"])
def test_a_failed_tests_database_is_kept_only_when_asked(migrated: Inner, keep: bool) -> None:
    out = migrated.path / "database.txt"
    migrated.write("e2e/test_fails.py", FAILS.format(out=str(out)))
    result = migrated.run(*(["--realstack-keep-failed-db"] if keep else []))
    text = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, text
    database = out.read_text()
    assert (database in databases(migrated.project)) is keep
    assert ("realstack: kept fresh_database" in text) is keep
    if keep:
        assert (
            f"plugin_user:***@localhost:{migrated.project.stack().service('postgres').port}/{database}"
            in text
        )
    assert PASSWORD not in text and quote(PASSWORD, safe="") not in text
    # a later session drops it
    migrated.write("e2e/test_fails.py", SEES_PLANS.format(out=str(out)))
    assert migrated.run().ret == pytest.ExitCode.OK
    assert database not in databases(migrated.project)


FOREIGN = ("someone_elses", PREFIX + "gw0_notatokn_1", PREFIX + "tpl_notakey", PREFIX + "gw7")
BLOCKS = """
    import pathlib, threading

    def test_holds_its_database(fresh_pg_conn):
        fresh_pg_conn.execute("SELECT 1")
        pathlib.Path({marker!r}).write_text("running")
        threading.Event().wait()
"""


def test_a_killed_sessions_databases_are_removed_at_the_next_start(
    migrated: Inner, inner_env: dict[str, str]
) -> None:
    """SIGKILL mid-test leaves clones behind; the next session drops them, and nothing that
    realstack did not name."""
    project = migrated.project
    with connect_admin(project) as admin:
        for name in FOREIGN:
            admin.execute(f'CREATE DATABASE "{name}"')
    marker = migrated.path / "running"
    migrated.write("e2e/test_blocks.py", BLOCKS.format(marker=str(marker)))
    argv = [sys.executable, "-m", "pytest", *migrated.args()]
    proc = subprocess.Popen(
        argv, cwd=migrated.path, env=inner_env, stdout=subprocess.DEVNULL, start_new_session=True
    )
    try:
        wait_until(lambda: None if marker.exists() else "not running yet", timeout=60)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    left = fresh(project)
    assert left, "the killed session left no clone behind"

    def disconnected() -> str | None:
        with connect_admin(project) as admin:
            query = "SELECT datname FROM pg_stat_activity WHERE datname = ANY(%s)"
            busy = admin.execute(query, (list(left),)).fetchall()
        return f"still connected: {busy}" if busy else None

    wait_until(disconnected, timeout=30)  # the server notices the killed client's sockets
    migrated.write("e2e/test_blocks.py", SEES_PLANS.format(out=str(migrated.path / "db.txt")))
    assert migrated.run().ret == pytest.ExitCode.OK
    remaining = set(databases(project))
    assert not left & remaining
    assert set(FOREIGN) <= remaining
    with connect_admin(project) as admin:
        for name in FOREIGN:
            admin.execute(f'DROP DATABASE "{name}"')
