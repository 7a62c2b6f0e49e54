"""A strict session needs the services its tests require healthy before the first test runs."""

from __future__ import annotations

import pytest

from plugin.conftest import Inner, bring_down, bring_up

USES_BOTH = """
    def test_writes_to_postgres_and_redis(pg_conn, redis_client):
        pg_conn.execute("SELECT 1")
        redis_client.ping()
"""
REDIS_ONLY = """
    import pytest

    @pytest.mark.requires("redis")
    def test_counts_in_redis(redis_client):
        assert redis_client.incr("hits") == 1
"""


def _ports(inner: Inner) -> dict[str, int]:
    stack = inner.project.stack()
    return {name: stack.service(name).port for name in stack.names}


def test_services_down_stop_the_session_once_naming_service_probe_error_and_fix(
    inner: Inner,
) -> None:
    """With the stack stopped, no test runs: one message per service, then the way out."""
    bring_down(inner.project)
    inner.write("e2e/test_stack.py", USES_BOTH)
    result = inner.run()
    ports = _ports(inner)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*realstack: required services of env 'test' are not healthy:*",
            f"*✗ postgres: probe postgres SELECT 1 on port {ports['postgres']}: *Error*",
            f"*✗ redis: probe redis PING on port {ports['redis']}: *Error*",
            "Start them with `invoke services.start --wait --env test` (or run pytest with "
            "--realstack-start)*",
        ]
    )
    result.assert_outcomes()  # nothing passed, failed, skipped or errored: nothing ran
    assert "test_writes_to_postgres_and_redis" not in result.stdout.str()


def test_services_down_under_xdist_stop_the_session_the_same_way(inner: Inner) -> None:
    """Workers that find the stack down stop the whole -n session with the same message."""
    bring_down(inner.project)
    inner.write("e2e/test_stack.py", USES_BOTH)
    result = inner.run("-n", "2")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["*required services of env 'test' are not healthy:*", "*✗ postgres: probe postgres*"]
    )
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    result.assert_outcomes()


def test_a_test_requiring_only_redis_runs_green_while_postgres_is_down(inner: Inner) -> None:
    """``requires("redis")`` narrows the check: PostgreSQL being down does not matter."""
    bring_up(inner.project)
    bring_down(inner.project, "postgres")
    inner.write("e2e/test_counter.py", REDIS_ONLY)
    result = inner.run()
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=1)


def test_a_test_without_requires_needs_every_service_and_stops_naming_postgres(
    inner: Inner,
) -> None:
    """The default requirement is the whole stack, so a down PostgreSQL stops the session."""
    bring_up(inner.project)
    bring_down(inner.project, "postgres")
    inner.write("e2e/test_counter.py", REDIS_ONLY.replace('@pytest.mark.requires("redis")', ""))
    result = inner.run()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*✗ postgres: probe postgres SELECT 1*"])
    result.stdout.no_fnmatch_line("*✗ redis*")
    result.assert_outcomes()


def test_a_deselected_test_does_not_demand_its_services(inner: Inner) -> None:
    """Only the tests that will run count: ``-k`` leaving out the PostgreSQL test is green."""
    bring_up(inner.project)
    bring_down(inner.project, "postgres")
    inner.write("e2e/test_counter.py", REDIS_ONLY)
    inner.write("e2e/test_stack.py", USES_BOTH)
    result = inner.run("-k", "counts_in_redis")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=1, deselected=1)


def test_a_fixture_on_a_service_the_test_does_not_require_fails_naming_it(inner: Inner) -> None:
    """``pg_conn`` in a ``requires("redis")`` test is a lie about its needs: it fails, clearly."""
    bring_up(inner.project)
    inner.write(
        "e2e/test_sneaky.py",
        """
        import pytest

        @pytest.mark.requires("redis")
        def test_reads_postgres_too(redis_client, pg_conn):
            pg_conn.execute("SELECT 1")
        """,
    )
    result = inner.run()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["*pg_conn uses 'postgres', which this test does not require*requires(...)*"]
    )
    result.assert_outcomes(errors=1)
