"""Shared test helpers: throwaway projects with their own manifest, env file and free ports."""

from __future__ import annotations

import contextlib
import shutil
import socket
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

import realstack
from realstack import orchestrator
from realstack.manifest import load_stack
from realstack.model import Stack
from realstack.results import Report

pytest_plugins = ["pytester"]


def free_port() -> int:
    """A port the OS just handed out (bind port 0), so parallel runs never collide."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Project:
    """A temporary realstack project: pyproject manifest + envs/test.env."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, manifest: str, env: dict[str, str] | None = None) -> Project:
        body = '[tool.realstack]\ndefault_env = "test"\n' + textwrap.dedent(manifest)
        (self.root / "pyproject.toml").write_text(body)
        (self.root / "envs").mkdir(exist_ok=True)
        lines = [f"{k}={v}" for k, v in (env or {}).items()]
        (self.root / "envs" / "test.env").write_text("\n".join(lines) + "\n")
        return self

    def stack(self, env: str = "test") -> Stack:
        return load_stack(self.root, env, environ={})

    def start(self, **kwargs: object) -> Report:
        return orchestrator.start(self.stack(), **kwargs)  # type: ignore[arg-type]

    def stop(self, **kwargs: object) -> Report:
        return orchestrator.stop(self.stack(), **kwargs)  # type: ignore[arg-type]

    @property
    def state(self) -> Path:
        return self.root / ".realstack" / "test"


@pytest.fixture
def project() -> Iterator[Project]:
    """A project under /tmp (traversable by the PostgreSQL user when tests run as root).

    Whatever a test leaves running is stopped through realstack afterwards, and the test fails
    if any process carrying this project's owner marker survives that.
    """
    root = Path(tempfile.mkdtemp(prefix="realstack-test-"))
    root.chmod(0o755)
    proj = Project(root)
    try:
        yield proj
    finally:
        if (root / "pyproject.toml").exists():
            # a test may have broken the manifest on purpose; the marker check below still runs
            with contextlib.suppress(realstack.RealstackError):
                proj.stop()
        survivors = [p for p in psutil.process_iter() if _carries(p, str(root))]
        for proc in survivors:
            proc.kill()
        shutil.rmtree(root, ignore_errors=True)
        assert not survivors, f"processes outlived the test: {survivors}"


def _carries(proc: psutil.Process, root: str) -> bool:
    try:
        return proc.environ().get("REALSTACK_OWNER", "").startswith(root)
    except psutil.Error:
        return False


ProjectFactory = Callable[[], Project]
