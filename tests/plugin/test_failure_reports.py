"""A failing strict test shows what the services logged, and says whose fault it was."""

from __future__ import annotations

import pytest

from plugin.conftest import Inner, bring_up

DIVIDES_BY_ZERO = """
    import psycopg

    def test_report_totals(pg_conn):
        try:
            pg_conn.execute("SELECT 1/0")
        except psycopg.errors.DivisionByZero:
            pg_conn.rollback()
        assert False, "the totals were wrong"
"""


@pytest.fixture
def stack_up(inner: Inner) -> Inner:
    """The inner run, with the module's stack running (a test below stops Redis)."""
    bring_up(inner.project)
    return inner


def test_a_failure_report_carries_the_postgres_log_lines_of_that_test(stack_up: Inner) -> None:
    """The server's own error appears in a section of the failing test's report."""
    stack_up.write("e2e/test_totals.py", DIVIDES_BY_ZERO)
    result = stack_up.run()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*_ test_report_totals _*",
            "*AssertionError: the totals were wrong*",
            "*realstack log: postgres (during this test)*",
            "*ERROR:  division by zero*",
        ]
    )


def test_an_assertion_is_a_test_failure_and_a_service_stopped_mid_test_is_infrastructure(
    stack_up: Inner,
) -> None:
    """The summary sorts failures: the test's own fault vs. the stack going away under it."""
    # one module, so the assertion test runs while Redis is still up
    stack_up.write(
        "e2e/test_totals.py",
        DIVIDES_BY_ZERO
        + """
    from realstack import orchestrator

    def test_session_survives_a_redis_outage(realstack, redis_client):
        redis_client.set("session", "alice")
        orchestrator.stop(realstack.stack, only=["redis"]).raise_for_errors()
        assert redis_client.get("session") == "alice"
""",
    )
    result = stack_up.run()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*realstack summary*",
            "infrastructure failures (1): service down, crashed or unreachable",
            "  e2e/test_totals.py::test_session_survives_a_redis_outage: redis: probe redis PING*",
            "test failures (1):",
            "  e2e/test_totals.py::test_report_totals",
        ]
    )
