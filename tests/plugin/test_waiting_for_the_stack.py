"""A run that waits for the stack says so, and for whom: while another run's test holds it
alone for an outage, a serial run's terminal gets a line every few seconds naming that test,
its pid and the service (it printed nothing, for up to the lock's 600 s)."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import Project
from plugin.conftest import Inner, bring_up, states
from realstack.pytest_plugin.stackshare import StackShare
from realstack.waiting import wait_until

HOLDER = """
    from pathlib import Path

    from realstack.waiting import wait_until

    INSIDE, RELEASE = Path({inside!r}), Path({release!r})

    def test_holds_redis_away(realstack):
        with realstack.outage("redis"):
            INSIDE.touch()
            wait_until(lambda: None if RELEASE.exists() else "not released yet", 60)
"""
READER = """
    def test_reads(redis_client):
        assert redis_client.ping()
"""
HOLDER_ID = "e2e/test_holder.py::test_holds_redis_away"
TASKS_PY = "from realstack.tasks import namespace as ns\n"  # for `invoke` in the project


@contextmanager
def running(inner: Inner, *args: str) -> Iterator[subprocess.Popen[str]]:
    """An inner pytest run in the background, its output piped (so never a terminal's line
    buffering: what it prints must be flushed to be seen)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", *inner.args(*args)],
        cwd=inner.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)
        assert proc.stdout is not None
        proc.stdout.close()


def waits_then_goes_on(proc: subprocess.Popen[str], release: Path) -> tuple[str, str]:
    """Read ``proc``'s output up to its first "waiting for the stack" line, let the holder go
    (touch ``release``), and see ``proc`` pass: (that line, the rest of its output)."""
    assert proc.stdout is not None
    seen: list[str] = []
    for line in proc.stdout:
        seen.append(line)
        if "waiting for the stack" in line:
            break
    release.touch()
    rest = proc.stdout.read()
    assert proc.wait(timeout=120) == 0, "".join(seen) + rest
    return (seen[-1] if seen else ""), rest


def test_a_run_waiting_behind_another_runs_outage_names_it(inner: Inner) -> None:
    inside, release = inner.path / "inside", inner.path / "release"
    inner.write("e2e/test_holder.py", HOLDER.format(inside=str(inside), release=str(release)))
    inner.write("e2e/test_reader.py", READER)
    bring_up(inner.project)

    with running(inner, "e2e/test_holder.py") as holder:
        wait_until(lambda: None if inside.exists() else "the holder is not in its window", 60)
        with running(inner, "e2e/test_reader.py", "-p", "no:xdist") as reader:
            waiting, rest = waits_then_goes_on(reader, release)
        assert holder.wait(timeout=120) == 0

    assert "realstack: waiting for the stack (5s, up to 600s): " in waiting, rest
    assert f"{HOLDER_ID} (pid {holder.pid}) holds it alone for an outage of redis" in waiting
    assert "1 passed" in rest
    assert states(inner.project) == {"postgres": "ours", "redis": "ours"}


def test_an_outage_goes_on_when_who_holds_the_stack_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The holder's line is for whoever waits; a full disk costs that line, not the test (it
    failed with an OSError traceback)."""
    share = StackShare(tmp_path, wait=5)

    def disk_full(fd: int, data: bytes, offset: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", disk_full)
    with share.alone("an outage of redis"):
        held = (tmp_path / "tests.gate").exists()

    assert held
    share.begin()  # and the stack is free again afterwards
    share.end()


IN_FLIGHT = """
    from pathlib import Path

    from realstack.waiting import wait_until

    INSIDE, RELEASE = Path({inside!r}), Path({release!r})

    def test_uses_redis_throughout(redis_client):
        before = redis_client.info("server")["process_id"]
        INSIDE.touch()
        wait_until(lambda: None if RELEASE.exists() else "not released yet", 60)
        assert redis_client.info("server")["process_id"] == before, "restarted under the test"
"""
RESTARTS_FROM_A_TEST = """
    import subprocess, sys
    from pathlib import Path

    def test_restarts_redis_through_the_cli(redis_client):
        assert redis_client.ping()
        done = subprocess.run(
            [str(Path(sys.executable).parent / "invoke"), "services.restart", "redis"],
            cwd={root!r}, capture_output=True, text=True, timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        print(done.stdout)
"""


@contextmanager
def a_test_in_flight(inner: Inner) -> Iterator[Path]:
    """A strict test using Redis in the background until the yielded file exists (touched
    after the block); it must pass: Redis was not restarted under it."""
    inside, release = inner.path / "inside", inner.path / "release"
    inner.write("e2e/test_in_flight.py", IN_FLIGHT.format(inside=str(inside), release=str(release)))
    bring_up(inner.project)
    with running(inner, "e2e/test_in_flight.py", "-p", "no:xdist") as test:
        wait_until(lambda: None if inside.exists() else "the test has not begun", 60)
        yield release
        release.touch()
        assert test.wait(timeout=120) == 0, test.stdout.read() if test.stdout else ""


def _restart(project: Project) -> subprocess.Popen[str]:
    (project.root / "tasks.py").write_text(TASKS_PY)
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "invoke"), "services.restart", "redis"],
        cwd=project.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_a_restart_from_a_terminal_waits_for_the_test_in_flight(inner: Inner) -> None:
    """`invoke services.restart redis` while a test uses Redis: the restart says it waits for
    the tests of the checkout, and runs once the test has ended: Redis did not go away under
    the test (it did before: the restart ignored running tests)."""
    with a_test_in_flight(inner) as release, _restart(inner.project) as restart:
        waiting, rest = waits_then_goes_on(restart, release)

    assert "redis" in waiting and "waiting for the stack (5s, up to 600s): " in waiting, rest
    assert "tests of this checkout use it" in waiting
    assert "✓ redis restarted in " in rest and "s waiting for the tests in flight)" in rest
    assert states(inner.project) == {"postgres": "ours", "redis": "ours"}


def test_a_restart_interrupted_while_it_waits_says_it_restarted_nothing(inner: Inner) -> None:
    with a_test_in_flight(inner), _restart(inner.project) as restart:
        assert restart.stdout is not None
        for line in restart.stdout:
            if "waiting for the stack" in line:
                break
        restart.send_signal(signal.SIGINT)
        rest = restart.stdout.read()
        code = restart.wait(timeout=60)

    assert code == 130, rest
    assert "interrupted while waiting for the stack: redis not restarted" in rest
    assert "Traceback" not in rest


def test_a_restart_run_from_a_test_does_not_wait_for_that_test(inner: Inner) -> None:
    """The test holds the stack while it runs; a restart it starts itself would wait for it
    until the deadline (600 s). It runs at once and says that nothing keeps other tests out."""
    (inner.project.root / "tasks.py").write_text(TASKS_PY)
    inner.write("e2e/test_restarts.py", RESTARTS_FROM_A_TEST.format(root=str(inner.project.root)))
    bring_up(inner.project)

    result = inner.run("e2e/test_restarts.py", "-p", "no:xdist", "-s")

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*redis*run from a test that holds the stack*"])
