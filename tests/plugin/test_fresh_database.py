"""Worker and per-test databases are clones of one template: the contract's migrated database.

Each test "migrates" the contract's database by recreating it with a schema (as a migration
task would), so it knows what the template must hold; the recreated database has a new OID,
which is part of the template's key.
"""

from __future__ import annotations

import json

import psycopg
import pytest

from conftest import Project
from plugin.conftest import Inner, bring_up, write_manifest
from plugin.pgsupport import PREFIX, SEES_PLANS, databases, fresh, migrate, templates, url_of


@pytest.fixture
def migrated(inner: Inner) -> Inner:
    """An inner run against a running stack whose contract database was just migrated."""
    bring_up(inner.project)
    migrate(inner.project)
    return inner


def test_the_worker_database_starts_with_the_templates_schema_and_rows(migrated: Inner) -> None:
    out = migrated.path / "database.txt"
    migrated.write("e2e/test_plans.py", SEES_PLANS.format(out=str(out)))
    result = migrated.run()
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert out.read_text() == "plugin_db_rs_main"
    assert len(templates(migrated.project)) == 1


def test_a_contract_database_the_services_hold_open_is_copied_all_the_same(
    migrated: Inner,
) -> None:
    """A client on the source rules out ``CREATE DATABASE … TEMPLATE`` (SQLSTATE 55006):
    the template is then a pg_dump | pg_restore copy with the same rows, and the client's
    connection is left alone."""
    out = migrated.path / "database.txt"
    migrated.write("e2e/test_plans.py", SEES_PLANS.format(out=str(out)))
    with psycopg.connect(url_of(migrated.project, "plugin_db")) as service:
        service.execute("SELECT 1")
        result = migrated.run()
        assert service.execute("SELECT count(*) FROM plans").fetchone() == (1,)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert out.read_text() == "plugin_db_rs_main"


def test_a_second_session_reuses_the_template(migrated: Inner) -> None:
    """Same name, same OID: not recreated."""
    migrated.write("e2e/test_plans.py", SEES_PLANS.format(out=str(migrated.path / "db.txt")))
    assert migrated.run().ret == pytest.ExitCode.OK
    first = templates(migrated.project)
    assert migrated.run().ret == pytest.ExitCode.OK
    assert templates(migrated.project) == first


def test_a_new_key_makes_a_new_template_and_drops_the_old(migrated: Inner) -> None:
    """Recreating the contract's database (a new OID) changes the key."""
    migrated.write("e2e/test_plans.py", SEES_PLANS.format(out=str(migrated.path / "db.txt")))
    assert migrated.run().ret == pytest.ExitCode.OK
    (old,) = templates(migrated.project)
    migrate(migrated.project)
    assert migrated.run().ret == pytest.ExitCode.OK
    (new,) = templates(migrated.project)
    assert new != old


ISOLATED = """
    import json, os, pathlib
    import pytest

    @pytest.mark.parametrize("n", range({count}))
    def test_has_a_database_of_its_own(fresh_pg_conn, fresh_database, n):
        assert fresh_pg_conn.execute("SELECT name FROM plans").fetchall() == [("pro",)]
        fresh_pg_conn.execute("INSERT INTO plans VALUES (%s)", (f"mine-{{n}}",))
        (database,) = fresh_pg_conn.execute("SELECT current_database()").fetchone()
        assert fresh_database.endswith("/" + database)
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        pathlib.Path({seen!r}, f"{{n}}.json").write_text(json.dumps([worker, database]))
"""


def _seen(inner: Inner, count: int, *args: str) -> list[tuple[str, str]]:
    """Run ``count`` tests that each check and change their fresh database: (worker, name)."""
    seen = inner.path / "seen"
    seen.mkdir()
    inner.write("e2e/test_isolated.py", ISOLATED.format(count=count, seen=str(seen)))
    result = inner.run(*args)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=count)
    return [tuple(json.loads(f.read_text())) for f in sorted(seen.iterdir())]


def test_each_test_gets_a_database_of_its_own_dropped_after_it(migrated: Inner) -> None:
    """Two tests, two clones with the schema; the first one's row is not in the second."""
    seen = _seen(migrated, 2)
    names = {database for _, database in seen}
    assert len(names) == 2
    assert PREFIX + "main" not in names
    assert not names & set(databases(migrated.project))


AHEAD = """
    import time
    import pytest

    def later_clones_connected(conn, own):
        stem, number = own.rsplit("_", 1)
        rows = conn.execute(
            "SELECT datname FROM pg_stat_activity WHERE datname LIKE %s", (stem + "_%",)
        ).fetchall()
        return [name for (name,) in rows if int(name.rsplit("_", 1)[1]) > int(number)]

    @pytest.mark.parametrize("n", range(4))
    def test_connected(fresh_pg_conn, fresh_database, n):
        (database,) = fresh_pg_conn.execute("SELECT current_database()").fetchone()
        assert fresh_database.endswith("/" + database)
        assert fresh_pg_conn.execute("SELECT name FROM plans").fetchall() == [("pro",)]
        fresh_pg_conn.execute("INSERT INTO plans VALUES ('mine')")
        deadline = time.monotonic() + 30
        while n and not later_clones_connected(fresh_pg_conn, database):
            assert time.monotonic() < deadline, "no connection made ahead to a later clone"
            time.sleep(0.05)
"""


def test_fresh_pg_conn_comes_connected_ahead_to_the_tests_own_database(migrated: Inner) -> None:
    """Once a test asked for one, clones come with a connection made ahead (seen from a
    test: someone is connected to a clone no test has taken yet); each test still gets its
    own database, with the template's rows only."""
    migrated.write("e2e/test_ahead.py", AHEAD)
    result = migrated.run()
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=4)


def test_under_xdist_both_workers_clone_concurrently(migrated: Inner) -> None:
    """The template is made once (the other worker waits for it); clones run side by side."""
    seen = _seen(migrated, 8, "-n", "2")
    assert {worker for worker, _ in seen} == {"gw0", "gw1"}
    assert len({database for _, database in seen}) == 8
    assert len(templates(migrated.project)) == 1
    assert fresh(migrated.project) == set()


def test_a_test_that_restarts_postgresql_leaves_the_next_tests_their_databases(
    migrated: Inner,
) -> None:
    """Clones are made by a connection of the session's own: it reconnects when the server
    is back."""
    migrated.write(
        "e2e/test_restart.py",
        """
        import pytest

        def test_restarts_postgresql(fresh_pg_conn, realstack):
            fresh_pg_conn.execute("SELECT 1")
            realstack.restart("postgres")

        @pytest.mark.parametrize("n", range(3))
        def test_after_the_restart(fresh_pg_conn, n):
            assert fresh_pg_conn.execute("SELECT count(*) FROM plans").fetchone() == (1,)
        """,
    )
    result = migrated.run()
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=4)


def test_a_worker_namespace_made_after_a_postgresql_restart_is_made_on_a_live_connection(
    migrated: Inner,
) -> None:
    """The session's first use of ``pg_conn`` comes after a test restarted PostgreSQL: the
    template lease's connection, cut by the restart, is made again (it was AdminShutdown)."""
    migrated.write(
        "e2e/test_restart.py",
        """
        def test_a_restarts_postgresql(fresh_pg_conn, realstack):
            fresh_pg_conn.execute("SELECT 1")
            realstack.restart("postgres")

        def test_b_gets_its_namespace(pg_conn):
            assert pg_conn.execute("SELECT count(*) FROM plans").fetchone() == (1,)
        """,
    )
    result = migrated.run()
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=2)


MIGRATE = """
import os, pathlib, psycopg

with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
    for migration in sorted(pathlib.Path("migrations").glob("*.sql")):
        conn.execute(migration.read_text())
"""
TASK = """
[tool.realstack.services.migrate]
kind = "task"
command = ["{python}", "migrate.py"]
depends_on = ["postgres"]
inputs = ["migrations/*.sql"]
"""
PLANS = """
    def test_sees_the_migrated_plans(pg_conn, fresh_pg_conn):
        for conn in (pg_conn, fresh_pg_conn):
            assert conn.execute("SELECT name FROM plans ORDER BY name").fetchall() == {rows!r}
"""


def test_a_migration_task_that_runs_again_makes_a_new_template(
    pytester: pytest.Pytester, project: Project, inner_env: dict[str, str]
) -> None:
    """The template's key holds the task's completion key: a new migration reruns the task,
    and the next session clones the newly migrated database (the old template is dropped)."""
    write_manifest(project)
    manifest = project.root / "pyproject.toml"
    manifest.write_text(manifest.read_text() + TASK)
    (project.root / "migrate.py").write_text(MIGRATE)
    (project.root / "migrations").mkdir()
    (project.root / "migrations" / "001.sql").write_text(
        "CREATE TABLE IF NOT EXISTS plans (name text PRIMARY KEY);"
        "INSERT INTO plans VALUES ('pro') ON CONFLICT DO NOTHING;"
    )
    inner = Inner(pytester, project)
    seen = []
    for rows in ([("pro",)], [("pro",), ("team",)]):
        bring_up(project)  # runs the task when its migrations changed
        inner.write("e2e/test_plans.py", PLANS.format(rows=rows))
        result = inner.run()
        assert result.ret == pytest.ExitCode.OK, result.stdout.str()
        seen.append(set(templates(project)))
        (project.root / "migrations" / "002.sql").write_text(
            "INSERT INTO plans VALUES ('team') ON CONFLICT DO NOTHING;"
        )
    first, second = seen
    assert len(first) == len(second) == 1
    assert first != second
