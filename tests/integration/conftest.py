"""Integration fixtures: one throwaway project shared by a module's tests.

Starting PostgreSQL from a project's cached template takes ~0.1 s, but building that template
costs ~1 s per project; a module-scoped project pays it once. Every test still states its own
precondition (start, or stop first), so the tests stay independent in meaning.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Project
from integration._support import processes_owned_by


@pytest.fixture(scope="module")
def module_project() -> Iterator[Project]:
    """The ``project`` fixture at module scope: stopped and checked for survivors at the end."""
    root = Path(tempfile.mkdtemp(prefix="realstack-itest-"))
    root.chmod(0o755)  # traversable by the PostgreSQL user when the tests run as root
    proj = Project(root)
    try:
        yield proj
    finally:
        try:
            if (root / "pyproject.toml").exists():
                proj.stop()
        finally:
            survivors = processes_owned_by(root)
            for proc in survivors:
                proc.kill()
            shutil.rmtree(root, ignore_errors=True)
            assert not survivors, f"processes outlived the module: {survivors}"
