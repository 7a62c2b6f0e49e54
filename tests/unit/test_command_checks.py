"""What cannot run is said before it is run: an app's or task's command (a mistake in the
manifest, naming the field: ``cwd``, ``command[0]``, exit 2), or kept PostgreSQL data that
the server found cannot read (another major version)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from realstack.binaries import find_postgres, version_of
from realstack.errors import ConfigError, ServiceError
from realstack.manifest import build_stack
from realstack.model import Stack
from realstack.providers.native import NativeProvider
from realstack.providers.native.launch import check_major
from realstack.records import Settings

APP = {"kind": "process", "port": 18101}


def stack_of(tmp_path: Path, **services: dict[str, Any]) -> Stack:
    return build_stack({"services": services}, root=tmp_path, env="test", variables={})


def refusal(stack: Stack) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        NativeProvider(stack).preflight(stack.services)
    return info.value


def test_a_command_that_can_run_passes(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    stack = stack_of(
        tmp_path,
        app={**APP, "command": [sys.executable, "-V"], "cwd": "sub"},
        named={**APP, "port": 18102, "command": ["sh", "-c", "true"]},
    )
    NativeProvider(stack).preflight(stack.services)


def test_a_program_not_on_the_path_names_command_0(tmp_path: Path) -> None:
    error = refusal(stack_of(tmp_path, app={**APP, "command": ["pythonn", "-m", "http.server"]}))
    assert error.path == "tool.realstack.services.app.command[0]"
    assert "'pythonn' is not found on the PATH" in str(error)


def test_the_path_searched_is_the_one_the_process_gets(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    tool = tmp_path / "bin" / "mytool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    own_path = {**APP, "command": ["mytool"], "env": {"PATH": str(tmp_path / "bin")}}
    NativeProvider(stack := stack_of(tmp_path, app=own_path)).preflight(stack.services)
    assert "mytool" in str(refusal(stack_of(tmp_path, app={**APP, "command": ["mytool"]})))


def test_a_missing_interpreter_path_is_named_as_written(tmp_path: Path) -> None:
    """A typo in the top-level ``python`` reaches the command as ``{python}``: a path."""
    stack = build_stack(
        {"python": ".venv/bin/pythn", "services": {"app": {**APP, "command": ["{python}"]}}},
        root=tmp_path,
        env="test",
        variables={},
    )
    error = refusal(stack)
    assert error.path == "tool.realstack.services.app.command[0]"
    assert f"{tmp_path}/.venv/bin/pythn does not exist" in str(error)


def test_a_relative_program_is_looked_up_from_cwd_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    error = refusal(stack_of(tmp_path, app={**APP, "command": ["./run.sh"], "cwd": "sub"}))
    assert f"./run.sh does not exist (relative to {tmp_path / 'sub'})" in str(error)


def test_a_file_that_is_not_executable_is_refused(tmp_path: Path) -> None:
    (tmp_path / "run.sh").write_text("echo hi\n")
    error = refusal(stack_of(tmp_path, app={**APP, "command": ["./run.sh"]}))
    assert "./run.sh is not an executable file" in str(error)


@pytest.mark.parametrize(("cwd", "says"), [("nope", "does not exist"), ("afile", "is not a")])
def test_a_working_directory_that_is_not_one_names_cwd(tmp_path: Path, cwd: str, says: str) -> None:
    (tmp_path / "afile").write_text("x")
    error = refusal(stack_of(tmp_path, app={**APP, "command": ["true"], "cwd": cwd}))
    assert error.path == "tool.realstack.services.app.cwd"
    assert f"{tmp_path / cwd} {says}" in str(error)


def test_after_a_task_the_command_is_checked_when_it_starts(tmp_path: Path) -> None:
    """A task before it may build the program: preflight lets it pass, its start does not."""
    stack = stack_of(
        tmp_path,
        build={"kind": "task", "command": ["true"]},
        app={**APP, "command": ["./dist/app"], "depends_on": ["build"]},
    )
    provider = NativeProvider(stack)
    provider.preflight(stack.services)
    with pytest.raises(ConfigError) as info:
        provider.start(stack.service("app"), {}, Settings())
    assert info.value.path == "tool.realstack.services.app.command[0]"


def test_kept_postgres_data_of_another_major_version_is_said_before_the_server_refuses_it(
    tmp_path: Path,
) -> None:
    """A distro upgrade or another bin_dir: the mend is named (purge, or the right build)
    instead of the server's "database files are incompatible with server"."""
    postgres = find_postgres().path
    major = version_of(str(postgres)).removeprefix("PostgreSQL ").split(".")[0]
    pg = build_stack(
        {"services": {"db": {"kind": "postgres", "port": 18401, "user": "u", "database": "d"}}},
        root=tmp_path,
        env="test",
        variables={},
    ).service("db")
    (tmp_path / "PG_VERSION").write_text(f"{major}\n")
    check_major(pg, postgres, tmp_path)  # the same major: nothing to say
    (tmp_path / "PG_VERSION").write_text("9\n")
    with pytest.raises(ServiceError) as info:
        check_major(pg, postgres, tmp_path)
    assert f"was made by PostgreSQL 9, and the server found is PostgreSQL {major}." in str(
        info.value
    )
    assert "`invoke services.stop --only db --purge`" in str(info.value)


def test_an_executable_file_that_is_no_program_is_named_like_a_missing_one(tmp_path: Path) -> None:
    """``python = "/etc/hostname"`` marked executable: the exec's own refusal (ENOEXEC) is a
    ConfigError naming command[0], not "unexpected OSError" (exit 1)."""
    (tmp_path / "notes.txt").write_text("not a program\n")
    (tmp_path / "notes.txt").chmod(0o755)
    stack = stack_of(tmp_path, app={**APP, "command": ["./notes.txt"]})
    provider = NativeProvider(stack)
    provider.preflight(stack.services)  # it exists and is executable: only the exec can tell
    with pytest.raises(ConfigError) as info:
        provider.start(stack.service("app"), {}, Settings())
    assert str(info.value) == (
        "tool.realstack.services.app.command[0]: ./notes.txt cannot be run: Exec format error"
    )
