"""Helpers shared by the process tests: manifest fragments, helper scripts, process checks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

from conftest import hearing_ctrl_c, owned_by
from realstack.waiting import wait_until

HERE = Path(__file__).resolve().parent
SVC = HERE / "svc.py"
SVC_TREE = HERE / "svc_tree.py"
STARTER = HERE / "starter.py"


def toml_str(value: str) -> str:
    """A TOML basic string (JSON string syntax is a subset of it for these values)."""
    return json.dumps(value)


def service_toml(
    name: str,
    argv: Sequence[str],
    *,
    port_var: str,
    startup_timeout: float = 5,
    stop_timeout: float = 1,
    probe: str = '{kind = "tcp"}',
    extra: Mapping[str, str] | None = None,
) -> str:
    """A ``[tool.realstack.services.<name>]`` table for a ``kind = "process"`` service.

    ``argv`` follows ``{python}``; ``extra`` adds raw TOML values (``depends_on``, ``exports`` …).
    """
    command = json.dumps(["{python}", *argv])
    lines = [
        f"[tool.realstack.services.{name}]",
        'kind = "process"',
        f'port = "${{{port_var}}}"',
        f"command = {command}",
        f"startup_timeout = {startup_timeout}",
        f"stop_timeout = {stop_timeout}",
        f"probe = {probe}",
        *(f"{key} = {value}" for key, value in (extra or {}).items()),
    ]
    return "\n".join(lines) + "\n"


def file_probe(path: Path) -> str:
    """A command probe that passes once ``path`` exists: readiness the test controls."""
    return f'{{kind = "command", command = {json.dumps(["test", "-e", str(path)])}}}'


def is_alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie has finished running)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def marked(prefix: str) -> list[psutil.Process]:
    """Live processes of the project at ``prefix`` (see :func:`conftest.owned_by`)."""
    return owned_by(prefix)


def wait_for_text(path: Path, text: str, timeout: float = 10.0) -> None:
    """Wait until the file at ``path`` contains ``text``."""

    def check() -> str | None:
        try:
            content = path.read_text()
        except FileNotFoundError:
            return f"{path} does not exist yet"
        return None if text in content else f"{text!r} not in {path} yet"

    wait_until(check, timeout)


def wait_for_file(path: Path, timeout: float = 10.0) -> None:
    wait_until(lambda: None if path.exists() else f"{path} does not exist yet", timeout)


def run_starter(root: Path, announce: Path) -> subprocess.Popen[str]:
    """``starter.py`` in its own interpreter, with an environment free of realstack overrides.

    It touches ``announce`` when ready, then calls ``realstack.start`` once :func:`release` says go.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("REALSTACK_")}
    with hearing_ctrl_c():  # the tests interrupt it
        return subprocess.Popen(
            [sys.executable, str(STARTER), str(root), str(announce)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )


def release(*starters: subprocess.Popen[str]) -> None:
    """Let waiting starters call ``realstack.start`` (as close to simultaneously as we can)."""
    for proc in starters:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
    for proc in starters:
        assert proc.stdin is not None
        proc.stdin.flush()


REALSTACK = Path(sys.executable).parent / "realstack"  # the console script, as users run it


class CliStart:
    """``realstack services.start --wait`` in ``root``, hearing Ctrl-C as from a terminal; its
    output read as it comes (a thread), so a test can act when a line appears."""

    def __init__(self, root: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("REALSTACK_")}
        with hearing_ctrl_c():
            self.proc = subprocess.Popen(
                [str(REALSTACK), "services.start", "--wait"],
                cwd=root,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env={**env, "PYTHONUNBUFFERED": "1"},
            )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for_line(self, pattern: str, timeout: float = 15.0) -> None:
        found = re.compile(pattern)

        def printed() -> str | None:
            if any(found.search(line) for line in self.lines):
                return None
            return f"no line matching {pattern!r} yet: {self.lines[-3:]}"

        wait_until(printed, timeout)

    def finish(self, timeout: float = 30.0) -> tuple[int, str]:
        """Its exit code and everything it printed."""
        code = self.proc.wait(timeout)
        self._reader.join(timeout)
        return code, "\n".join(self.lines)

    def __enter__(self) -> CliStart:
        return self

    def __exit__(self, *_: object) -> None:
        """A start the test did not see to its end is killed; its pipe closed either way."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._reader.join()
        assert self.proc.stdout is not None
        self.proc.stdout.close()
