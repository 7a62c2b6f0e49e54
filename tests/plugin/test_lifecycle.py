"""``--realstack-start`` starts what is missing and stops exactly that, Ctrl-C included."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from conftest import Project, hearing_ctrl_c
from plugin.conftest import (
    Inner,
    bring_down,
    bring_up,
    owned_processes,
    states,
    write_manifest,
)
from realstack.status import status
from realstack.waiting import wait_until

USES_BOTH = """
    def test_stores_an_order(pg_conn, redis_client, realstack):
        pg_conn.execute("CREATE TABLE orders (id int)")
        redis_client.set("last_order", "1")
        assert {row.name: row.state for row in realstack.status()} == {
            "postgres": "ours",
            "redis": "ours",
        }
"""
BOTH_DOWN = {"postgres": "down", "redis": "down"}
BOTH_UP = {"postgres": "ours", "redis": "ours"}


def _pids(project: Project) -> dict[str, int | None]:
    return {row.name: row.pid for row in status(project.stack(), probe=False)}


def test_start_brings_a_stopped_stack_up_for_the_run_and_stops_it_after(inner: Inner) -> None:
    """Down before, up while the tests run, down again after."""
    bring_down(inner.project)
    inner.write("e2e/test_orders.py", USES_BOTH)
    result = inner.run("--realstack-start")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=1)
    assert states(inner.project) == BOTH_DOWN


def test_start_leaves_a_stack_that_was_already_up_running(inner: Inner) -> None:
    """What ran before the session is not the session's to stop (nor to restart)."""
    bring_up(inner.project)
    before = _pids(inner.project)
    inner.write("e2e/test_orders.py", USES_BOTH)
    result = inner.run("--realstack-start")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert states(inner.project) == BOTH_UP
    assert _pids(inner.project) == before


def test_start_stops_only_the_service_it_started(inner: Inner) -> None:
    """PostgreSQL ran before and keeps running; Redis, started by the session, is stopped."""
    bring_up(inner.project)
    bring_down(inner.project, "redis")
    postgres_pid = _pids(inner.project)["postgres"]
    inner.write("e2e/test_orders.py", USES_BOTH)
    result = inner.run("--realstack-start")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert states(inner.project) == {"postgres": "ours", "redis": "down"}
    assert _pids(inner.project)["postgres"] == postgres_pid


def test_start_under_xdist_starts_once_for_all_workers_and_stops_after(inner: Inner) -> None:
    """The controller owns the stack: workers find it up, and it is down after the run."""
    bring_down(inner.project)
    inner.write(
        "e2e/test_orders.py",
        """
        import pytest

        @pytest.mark.parametrize("order", range(4))
        def test_stores_an_order(pg_conn, redis_client, order):
            pg_conn.execute("CREATE TABLE orders (id int)")
            redis_client.set("last_order", order)
        """,
    )
    result = inner.run("--realstack-start", "-n", "2")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=4)
    assert states(inner.project) == BOTH_DOWN


BLOCKS = """
    import pathlib
    import threading

    def test_waits_forever(pg_conn, redis_client):
        pg_conn.execute("SELECT 1")
        redis_client.ping()
        pathlib.Path({marker!r}).write_text("running")
        threading.Event().wait()
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_during_a_test_stops_the_services_the_session_started(
    pytester: pytest.Pytester, project: Project, inner_env: dict[str, str], signum: int
) -> None:
    """SIGINT mid-test, or SIGTERM (a CI job cancelled, ``timeout``): the run ends, and no
    process of the project's stack survives it (SIGTERM killed pytest and left it running)."""
    write_manifest(project)
    inner = Inner(pytester, project)
    marker = inner.path / "running"
    inner.write("e2e/test_blocking.py", BLOCKS.format(marker=str(marker)))
    output = inner.path / "inner-output.txt"
    argv = [sys.executable, "-m", "pytest", *inner.args("--realstack-start")]
    with output.open("wb") as sink, hearing_ctrl_c():
        proc = subprocess.Popen(
            argv, cwd=inner.path, env=inner_env, stdout=sink, stderr=subprocess.STDOUT
        )
    try:

        def test_is_running() -> str | None:
            if proc.poll() is not None:
                raise AssertionError(f"inner pytest ended early:\n{output.read_text()}")
            return None if marker.exists() else "the inner test has not started yet"

        wait_until(test_is_running, timeout=60)
        assert states(project) == BOTH_UP
        proc.send_signal(signum)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = output.read_text()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, text
    assert ("KeyboardInterrupt" if signum == signal.SIGINT else "Interrupted: SIGTERM") in text
    assert "INTERNALERROR" not in text, text
    assert owned_processes(project.root) == []
    assert states(project) == BOTH_DOWN
