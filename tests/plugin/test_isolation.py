"""Each worker writes to its own database and Redis db; each test starts from the seed data."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from plugin.conftest import INNER_TIMEOUT, Inner, bring_up

WRITERS = """
    import json
    import os
    import pathlib

    import pytest

    SEEN = pathlib.Path({seen!r})

    @pytest.mark.parametrize("order", range(6))
    def test_writes_an_order(pg_conn, redis_client, order):
        assert pg_conn.execute("SELECT to_regclass('orders')").fetchone() == (None,)
        assert redis_client.dbsize() == 0
        pg_conn.execute("CREATE TABLE orders (id int)")
        pg_conn.execute("INSERT INTO orders VALUES (%s)", (order,))
        redis_client.set("last_order", order)
        (database,) = pg_conn.execute("SELECT current_database()").fetchone()
        record = {{
            "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
            "database": database,
            "redis_db": redis_client.connection_pool.connection_kwargs["db"],
        }}
        (SEEN / f"{{order}}.json").write_text(json.dumps(record))
"""


@pytest.fixture
def writers(inner: Inner) -> Inner:
    """Six tests that each create a table, insert a row and set a key, from a clean slate."""
    bring_up(inner.project)
    seen = inner.path / "seen"
    seen.mkdir()
    inner.write("e2e/test_orders.py", WRITERS.format(seen=str(seen)))
    return inner


def _records(inner: Inner) -> list[dict[str, object]]:
    files = sorted((inner.path / "seen").glob("*.json"))
    return [json.loads(f.read_text()) for f in files]


def test_serially_every_test_starts_without_the_previous_tests_rows_and_keys(
    writers: Inner,
) -> None:
    """Rollback and flush after each test: six identical CREATE TABLEs all succeed."""
    result = writers.run()
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=6)
    records = _records(writers)
    assert {r["worker"] for r in records} == {"main"}
    assert {r["database"] for r in records} == {"plugin_db_rs_main"}


def test_under_xdist_each_worker_has_its_own_database_and_redis_db(writers: Inner) -> None:
    """gw0 and gw1 never share a database or a Redis db index."""
    result = writers.run("-n", "2")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=6)
    databases: dict[object, set[object]] = {}
    redis_dbs: dict[object, set[object]] = {}
    for r in _records(writers):
        databases.setdefault(r["worker"], set()).add(r["database"])
        redis_dbs.setdefault(r["worker"], set()).add(r["redis_db"])
    assert databases == {"gw0": {"plugin_db_rs_gw0"}, "gw1": {"plugin_db_rs_gw1"}}
    (gw0_db,), (gw1_db,) = redis_dbs["gw0"], redis_dbs["gw1"]
    assert gw0_db != gw1_db
    assert 2 not in (gw0_db, gw1_db)  # the services' own db (the manifest's) is left alone


def test_seed_data_from_the_load_fixtures_hook_is_there_in_every_test(inner: Inner) -> None:
    """``pytest_realstack_load_fixtures`` seeds the namespace once; no test's writes outlive it."""
    bring_up(inner.project)
    inner.write(
        "conftest.py",
        """
        def pytest_realstack_load_fixtures(namespace, pg, redis):
            pg.execute("CREATE TABLE customers (name text)")
            pg.execute("INSERT INTO customers VALUES ('alice'), ('bob')")
            redis.set("plan:alice", "pro")
        """,
    )
    inner.write(
        "e2e/test_customers.py",
        """
        import pytest

        @pytest.mark.parametrize("newcomer", ["carol", "dave"])
        def test_sees_the_seeded_customers_only(pg_conn, redis_client, newcomer):
            names = pg_conn.execute("SELECT name FROM customers ORDER BY name").fetchall()
            assert names == [("alice",), ("bob",)]
            assert redis_client.keys("*") == ["plan:alice"]
            pg_conn.execute("INSERT INTO customers VALUES (%s)", (newcomer,))
            redis_client.set(f"plan:{newcomer}", "free")
        """,
    )
    result = inner.run()
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=2)


TWO_SESSIONS = """
    import json
    import os
    import pathlib

    from realstack.waiting import wait_until

    HERE = pathlib.Path(__file__).parent

    def test_keeps_its_own_rows_and_keys_while_the_other_session_runs(pg_conn, redis_client):
        me = os.environ["WHO"]
        other = {"a": "b", "b": "a"}[me]
        pg_conn.execute("CREATE TABLE mine (who text)")
        pg_conn.execute("INSERT INTO mine VALUES (%s)", (me,))
        redis_client.set("who", me)
        (database,) = pg_conn.execute("SELECT current_database()").fetchone()
        redis_db = redis_client.connection_pool.connection_kwargs["db"]
        (HERE / f"{me}.json").write_text(json.dumps([database, redis_db]))
        wait_until(lambda: None if (HERE / f"{other}.json").exists() else "not yet", 60)
        assert pg_conn.execute("SELECT who FROM mine").fetchall() == [(me,)]
        assert redis_client.get("who") == me
"""


def test_two_sessions_of_one_checkout_at_once_get_namespaces_of_their_own(inner: Inner) -> None:
    """A second terminal or an IDE runs the suite while a run is going: each session gets its
    own database and Redis db, and neither recreates or flushes the other's (before, both used
    ``main``: the second dropped the first's database under it)."""
    bring_up(inner.project)
    inner.write("e2e/test_two.py", TWO_SESSIONS)
    command = [sys.executable, "-m", "pytest", *inner.args("-q")]
    sessions = {
        who: subprocess.Popen(
            command,
            cwd=inner.path,
            env={**os.environ, "WHO": who},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for who in ("a", "b")
    }
    outputs = {who: proc.communicate(timeout=INNER_TIMEOUT)[0] for who, proc in sessions.items()}
    for who, proc in sessions.items():
        assert proc.returncode == 0, outputs[who]
    records = {who: inner.path / "e2e" / f"{who}.json" for who in "ab"}
    seen = {who: tuple(json.loads(path.read_text())) for who, path in records.items()}
    assert seen["a"][0] != seen["b"][0]
    assert seen["a"][1] != seen["b"][1]
    assert "plugin_db_rs_main" in {seen["a"][0], seen["b"][0]}  # the first one's is the usual
