"""``realstack.outage(name)``: a test stops a service of the shared stack, and no other test, in
any xdist worker, meets the outage; before and after its window the test shares the stack.

The inner run really stops Redis (through realstack) while the other worker is busy reading
it. Every test notes when it used Redis, on the machine's monotonic clock, so the outer test
reads the order of events across processes; the outage waits until the other worker has read
at least once, so the two really ran at the same time.
"""

from __future__ import annotations

import json
from typing import Any

from plugin.conftest import Inner, bring_up, states

READERS = 60
TESTS = """
    import json
    import os
    import time
    from pathlib import Path

    import pytest
    import redis
    from realstack.waiting import wait_until

    EVENTS = Path({events!r})


    def note(what, **fields):
        with EVENTS.open("a") as out:
            out.write(json.dumps({{"what": what, "t": time.monotonic(), "pid": os.getpid(),
                                   **fields}}) + "\\n")


    def others_read():
        lines = EVENTS.read_text().splitlines() if EVENTS.exists() else []
        seen = [json.loads(line) for line in lines]
        if any(e["what"] == "read-end" and e["pid"] != os.getpid() for e in seen):
            return None
        return "the other worker has not read yet"


    def test_redis_goes_away_and_comes_back(realstack, service_urls):
        wait_until(others_read, 60)
        with realstack.outage("redis"):
            note("down-begin")
            client = redis.Redis.from_url(service_urls["REDIS_URL"], socket_connect_timeout=2)
            with pytest.raises(redis.ConnectionError):
                client.ping()
            note("down-end")
        assert redis.Redis.from_url(service_urls["REDIS_URL"]).ping()


    @pytest.mark.parametrize("n", range({readers}))
    def test_reads_redis(redis_client, n):
        note("read-begin", n=n)
        redis_client.set("n", n)
        assert redis_client.get("n") == str(n)
        note("read-end", n=n)
"""


def test_an_outage_in_one_worker_is_met_by_no_test_of_the_other(inner: Inner) -> None:
    events = inner.path / "events.jsonl"
    inner.write("e2e/test_outage.py", TESTS.format(events=str(events), readers=READERS))
    bring_up(inner.project)

    result = inner.run("-n", "2")

    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(passed=READERS + 1)
    result.stdout.fnmatch_lines(["*outages held the stack alone for *s in 1 test*"])
    seen = [json.loads(line) for line in events.read_text().splitlines()]
    [begin] = [e["t"] for e in seen if e["what"] == "down-begin"]
    [end] = [e["t"] for e in seen if e["what"] == "down-end"]
    [outage_pid] = {e["pid"] for e in seen if e["what"] == "down-begin"}
    reads = _intervals(seen)
    met = [(b, e) for b, e, _ in reads if b < end and e > begin]
    assert not met, f"reads during the outage [{begin}, {end}]: {met}"
    other = [(b, e) for b, e, pid in reads if pid != outage_pid]
    assert any(e < begin for _, e in other), "the other worker read nothing before the outage"
    assert any(b > end for b, _ in other), "the other worker read nothing after the outage"
    assert states(inner.project) == {"postgres": "ours", "redis": "ours"}


def _intervals(seen: list[dict[str, Any]]) -> list[tuple[float, float, int]]:
    """(begin, end, pid) of every read, on the machine's monotonic clock."""
    begins = {(e["pid"], e["n"]): e["t"] for e in seen if e["what"] == "read-begin"}
    return [(begins[(e["pid"], e["n"])], e["t"], e["pid"]) for e in seen if e["what"] == "read-end"]


def test_what_an_outage_or_restart_may_not_touch_fails_the_test_in_one_line(
    inner: Inner,
) -> None:
    """A service this checkout does not run (here: stopped) is neither stopped nor started
    (a restart started it, or, with another process on its port, moved it to another port);
    a name the manifest lacks is named, without a traceback."""
    inner.write(
        "e2e/test_outage.py",
        """
        import pytest

        pytestmark = pytest.mark.requires("postgres")

        def test_takes_redis_away(realstack):
            with realstack.outage("redis"):
                pass

        def test_restarts_redis(realstack):
            realstack.restart("redis")

        def test_takes_a_typo_away(realstack):
            with realstack.outage("redsi"):
                pass
        """,
    )
    bring_up(inner.project)
    inner.project.stop(only=["redis"])

    result = inner.run()

    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "*realstack.outage('redis'): redis does not run as this checkout's*",
            "*realstack.restart('redis'): redis does not run as this checkout's*",
            "*realstack.outage('redsi'): the manifest has no service 'redsi' (it has postgres, "
            "redis)*",
        ],
        consecutive=False,
    )
    assert "Traceback" not in result.stdout.str()
    assert states(inner.project)["redis"] == "down"


def test_the_plugins_own_clients_outlive_an_outage(inner: Inner) -> None:
    """A test may take PostgreSQL away under its own ``pg_conn`` (its teardown rolled back on
    the cut connection: AdminShutdown); after a Redis outage, the next test's ``redis_client``
    finds the seed again (the restarted, non-durable Redis had lost it)."""
    inner.write(
        "conftest.py",
        """
        def pytest_realstack_load_fixtures(namespace, pg, redis):
            redis.set("seed:plan", "gold")
        """,
    )
    inner.write(
        "e2e/test_outage.py",
        """
        def test_a_reads_the_seed(redis_client):
            assert redis_client.get("seed:plan") == "gold"

        def test_b_takes_postgres_away_under_its_pg_conn(pg_conn, realstack):
            pg_conn.execute("SELECT 1")
            with realstack.outage("postgres"):
                pass

        def test_c_takes_redis_away(realstack):
            with realstack.outage("redis"):
                pass

        def test_d_reads_the_seed_again(redis_client):
            assert redis_client.get("seed:plan") == "gold"
        """,
    )
    bring_up(inner.project)

    result = inner.run()

    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(passed=4)


def test_an_outage_in_a_test_that_holds_no_share_of_the_stack_warns(inner: Inner) -> None:
    """Outside a strict suite no test holds the stack: the outage runs, and says so."""
    inner.write(
        "tests/test_outage.py",
        """
        def test_takes_redis_away(realstack):
            with realstack.outage("redis"):
                pass
        """,
    )
    bring_up(inner.project)

    result = inner.run()

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*OutageNotIsolated*holds no share of the stack*"])
    assert states(inner.project) == {"postgres": "ours", "redis": "ours"}


def test_an_outage_inside_an_outage_runs_at_once_and_both_services_come_back(
    inner: Inner,
) -> None:
    """The stack is the test's already: the inner outage does not wait for it (it waited
    out the lock's whole deadline, on a lock its own process held)."""
    inner.write(
        "e2e/test_outage.py",
        """
        import psycopg
        import pytest
        import redis

        def test_both_away(realstack, service_urls):
            with realstack.outage("redis"):
                with realstack.outage("postgres"):
                    with pytest.raises(psycopg.OperationalError):
                        psycopg.connect(service_urls["DATABASE_URL"], connect_timeout=2)
                assert psycopg.connect(service_urls["DATABASE_URL"]).execute("SELECT 1")
                with pytest.raises(redis.ConnectionError):
                    redis.Redis.from_url(service_urls["REDIS_URL"]).ping()
            assert redis.Redis.from_url(service_urls["REDIS_URL"]).ping()
        """,
    )
    bring_up(inner.project)

    result = inner.run("-n", "2")

    result.assert_outcomes(passed=1)
    assert states(inner.project) == {"postgres": "ours", "redis": "ours"}


def test_a_connection_failing_in_the_tests_own_outage_is_a_test_failure_and_not_retried(
    inner: Inner,
) -> None:
    """The test took Redis away itself: a connection error in its window is its own doing.
    Counted as an infrastructure failure, it was retried by ``--realstack-retry-infra``,
    which ran the whole outage again."""
    inner.write(
        "e2e/test_outage.py",
        """
        import redis

        def test_forgets_that_redis_is_away(realstack, service_urls):
            client = redis.Redis.from_url(service_urls["REDIS_URL"], socket_connect_timeout=2)
            with realstack.outage("redis"):
                client.ping()
        """,
    )
    bring_up(inner.project)

    result = inner.run("--realstack-retry-infra")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*realstack summary*",
            "test failures (1):",
            "  e2e/test_outage.py::test_forgets_that_redis_is_away",
            "outages held the stack alone for *s in 1 test*",
        ]
    )
    result.stdout.no_fnmatch_line("*infrastructure failures*")
    result.stdout.no_fnmatch_line("*RERUN*")
    assert states(inner.project) == {"postgres": "ours", "redis": "ours"}
