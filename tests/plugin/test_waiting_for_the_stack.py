"""A run that waits for the stack says so, and for whom: while another run's test holds it
alone for an outage, a serial run's terminal gets a line every few seconds naming that test,
its pid and the service (it printed nothing, for up to the lock's 600 s)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

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


def test_a_run_waiting_behind_another_runs_outage_names_it(inner: Inner) -> None:
    inside, release = inner.path / "inside", inner.path / "release"
    inner.write("e2e/test_holder.py", HOLDER.format(inside=str(inside), release=str(release)))
    inner.write("e2e/test_reader.py", READER)
    bring_up(inner.project)

    with running(inner, "e2e/test_holder.py") as holder:
        wait_until(lambda: None if inside.exists() else "the holder is not in its window", 60)
        with running(inner, "e2e/test_reader.py", "-p", "no:xdist") as reader:
            assert reader.stdout is not None
            seen: list[str] = []
            for line in reader.stdout:
                seen.append(line)
                if "realstack: waiting for the stack" in line:
                    break
            release.touch()
            rest = reader.stdout.read()
            assert reader.wait(timeout=120) == 0, "".join(seen) + rest
        assert holder.wait(timeout=120) == 0

    waiting = seen[-1]
    assert "realstack: waiting for the stack (5s, up to 600s): " in waiting, "".join(seen)
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
