"""State never in git: the state directory ignores itself, as ``.pytest_cache`` does.

realstack writes ``.gitignore`` (``*``) at the top of what it creates, and into a default
``.realstack`` base; never over an ignore file that exists, and never into a directory it
merely found (a shared ``REALSTACK_STATE_DIR=/var/tmp`` is not realstack's to mark).
"""

from __future__ import annotations

import errno
import subprocess
from pathlib import Path

import pytest

from realstack import state
from realstack.gitignore import TEXT
from realstack.state import InstancePaths, StateDirError, keep_traceback


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout


def test_a_new_state_directory_in_a_git_project_leaves_git_status_clean(tmp_path: Path) -> None:
    """After the state tree is created (with a record and a log in it), git sees nothing."""
    git(tmp_path, "init", "-q")
    paths = InstancePaths(tmp_path / ".realstack" / "test")
    paths.ensure()
    paths.record("db").write_text("{}\n")
    paths.log("db").write_text("ready\n")
    assert git(tmp_path, "status", "--porcelain", "--untracked-files=all") == ""


def test_the_default_base_gets_a_gitignore_holding_a_star(tmp_path: Path) -> None:
    InstancePaths(tmp_path / ".realstack" / "test").ensure()
    ignore = tmp_path / ".realstack" / ".gitignore"
    assert ignore.read_text() == TEXT
    assert "*" in ignore.read_text().splitlines()


def test_an_existing_default_base_without_one_gets_it_too(tmp_path: Path) -> None:
    """A .realstack an older realstack made (no ignore file) is realstack's by its name."""
    (tmp_path / ".realstack" / "test").mkdir(parents=True)
    InstancePaths(tmp_path / ".realstack" / "test").ensure()
    assert (tmp_path / ".realstack" / ".gitignore").read_text() == TEXT


def test_an_ignore_file_that_exists_is_never_replaced(tmp_path: Path) -> None:
    base = tmp_path / ".realstack"
    base.mkdir()
    (base / ".gitignore").write_text("# mine\n*.log\n")
    InstancePaths(base / "test").ensure()
    assert (base / ".gitignore").read_text() == "# mine\n*.log\n"


def test_a_shared_base_that_exists_is_not_marked_its_new_instance_directory_is(
    tmp_path: Path,
) -> None:
    """REALSTACK_STATE_DIR=/var/tmp-like: only the directory realstack made gets the file."""
    shared = tmp_path / "shared"
    shared.mkdir()
    InstancePaths(shared / "test-0123456789").ensure()
    assert not (shared / ".gitignore").exists()
    assert (shared / "test-0123456789" / ".gitignore").read_text() == TEXT


def test_the_top_of_several_new_levels_is_marked(tmp_path: Path) -> None:
    """state_dir = "var/cache/rs": var did not exist, so var is what realstack created."""
    InstancePaths(tmp_path / "var" / "cache" / "rs" / "test").ensure()
    assert (tmp_path / "var" / ".gitignore").read_text() == TEXT
    assert not (tmp_path / "var" / "cache" / "rs" / ".gitignore").exists()


def test_a_state_tree_first_made_for_a_traceback_is_marked_too(tmp_path: Path) -> None:
    """An unexpected error before any start still leaves no state for git to see."""
    keep_traceback(InstancePaths(tmp_path / ".realstack" / "test"), "Traceback …\n")
    assert (tmp_path / ".realstack" / ".gitignore").read_text() == TEXT


def test_a_directory_where_the_ignore_file_goes_is_left_alone(tmp_path: Path) -> None:
    """Something is there already: not realstack's to touch, and no error either."""
    (tmp_path / ".realstack" / ".gitignore").mkdir(parents=True)
    InstancePaths(tmp_path / ".realstack" / "test").ensure()
    assert (tmp_path / ".realstack" / ".gitignore").is_dir()


def test_an_ignore_file_that_cannot_be_written_is_a_state_dir_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """E.g. a full disk: one message with the path, like every other state-dir problem."""

    def refuse(directory: Path) -> bool:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(state, "ignore_in_git", refuse)
    with pytest.raises(StateDirError) as info:
        InstancePaths(tmp_path / ".realstack" / "test").ensure()
    assert info.value.path == tmp_path / ".realstack" / ".gitignore"
    assert "No space left on device" in info.value.problem
