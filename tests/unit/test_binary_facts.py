"""A server binary is asked about itself once per file: status and settings checks reuse it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from realstack import binaries
from realstack.binary_facts import remembered


@pytest.fixture(autouse=True)
def own_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("REALSTACK_HOME", str(home))
    binaries.version_of.cache_clear()
    binaries.postgres_settings.cache_clear()
    return home


def server(path: Path, says: str) -> Path:
    """A fake server binary that says ``says`` and counts how often it was asked."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\necho x >> "{path}.asked"\necho "{says}"\n')
    path.chmod(0o755)
    return path


def asked(path: Path) -> int:
    counter = Path(f"{path}.asked")
    return len(counter.read_text().splitlines()) if counter.exists() else 0


def test_the_version_is_asked_once_per_binary_across_processes(tmp_path: Path) -> None:
    """A new process (the in-memory cache emptied) reads the answer from the user's file."""
    binary = server(tmp_path / "bin" / "valkey-server", "Valkey server v=9.1.2 sha=0")
    assert binaries.version_of(str(binary)) == "Valkey 9.1.2"
    binaries.version_of.cache_clear()  # as in the next `invoke services.status`
    assert binaries.version_of(str(binary)) == "Valkey 9.1.2"
    assert asked(binary) == 1


def test_a_changed_binary_is_asked_again(tmp_path: Path) -> None:
    """An upgrade in place (another size or mtime) is not answered from the old file."""
    binary = server(tmp_path / "bin" / "redis-server", "Redis server v=7.0.0 sha=0")
    assert binaries.version_of(str(binary)) == "Redis 7.0.0"
    server(binary, "Redis server v=7.2.10 sha=0")
    os.utime(binary, ns=(1, 1))  # another mtime, whatever the clock's resolution
    binaries.version_of.cache_clear()
    assert binaries.version_of(str(binary)) == "Redis 7.2.10"
    assert asked(binary) == 2


def test_postgres_settings_are_remembered_too(tmp_path: Path) -> None:
    binary = tmp_path / "bin" / "postgres"
    binary.parent.mkdir()
    binary.write_text(
        f"#!/bin/sh\necho x >> \"{binary}.asked\"\nprintf 'work_mem\\tRESOURCES\\nfsync\\tWAL\\n'\n"
    )
    binary.chmod(0o755)
    assert binaries.postgres_settings(str(binary)) == {"work_mem", "fsync"}
    binaries.postgres_settings.cache_clear()
    assert binaries.postgres_settings(str(binary)) == {"work_mem", "fsync"}
    assert asked(binary) == 1


def test_an_empty_answer_is_not_kept(tmp_path: Path) -> None:
    """A binary that said nothing (broken, timed out) is asked again next time."""
    calls: list[str] = []

    def ask() -> str:
        calls.append("asked")
        return ""

    binary = server(tmp_path / "bin" / "x", "")
    assert remembered("version", str(binary), ask) == ""
    assert remembered("version", str(binary), ask) == ""
    assert calls == ["asked", "asked"]


def test_an_unusable_home_costs_the_question_not_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("REALSTACK_HOME", str(blocker / "home"))
    binary = server(tmp_path / "bin" / "valkey-server", "Valkey server v=9.1.2 sha=0")
    assert remembered("version", str(binary), lambda: "Valkey 9.1.2") == "Valkey 9.1.2"


def test_a_damaged_file_is_no_answer(own_home: Path, tmp_path: Path) -> None:
    own_home.mkdir()
    (own_home / "binaries.json").write_text("{not json")
    binary = server(tmp_path / "bin" / "valkey-server", "Valkey server v=9.1.2 sha=0")
    assert binaries.version_of(str(binary)) == "Valkey 9.1.2"
    assert asked(binary) == 1
