"""Finding this checkout's instance without its manifest: the state directory and instance id
the manifest would have given, from what a broken pyproject still lets realstack read.

A stop from the records is only as safe as this derivation: the same id means the providers'
proofs (owner marker, labels) hold; a different one would find nothing of ours, never
something else. Nothing is started here (the stop itself: tests/integration/test_salvage_stop).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from invoke.context import Context
from invoke.exceptions import Exit

from realstack import salvage, tasks
from realstack.errors import StopFailed
from realstack.manifest import load_stack
from realstack.results import Action, Report, ServiceResult
from realstack.salvage import instance_without_manifest, project_root, recorded_names
from realstack.state import InstancePaths

MANIFEST = """\
[tool.realstack]
default_env = "test"
{extra}
[tool.realstack.services.cache]
kind = "redis"
port = "${{CACHE_PORT}}"
"""
Breaker = Callable[[str], str]
# A manifest broken after the parse (an unknown key) and one that is no TOML at all.
BROKEN: dict[str, Breaker] = {
    "unknown key": lambda text: text + 'colour = "blue"\n',
    "invalid TOML": lambda text: text + "[tool.realstack\n",
}


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    project = tmp_path / "project"
    (project / "envs").mkdir(parents=True)
    for env in ("test", "dev"):
        (project / "envs" / f"{env}.env").write_text("CACHE_PORT=16379\n")
    for name in ("REALSTACK_ENV", "REALSTACK_STATE_DIR", "REALSTACK_INSTANCE"):
        monkeypatch.delenv(name, raising=False)
    return project


def started_then_broken(
    root: Path, breaker: Breaker, environ: Mapping[str, str], extra: str = "", env: str = "test"
) -> tuple[str, Path]:
    """(instance id, state dir) of the valid manifest, its state dir created; then broken."""
    text = MANIFEST.format(extra=extra)
    (root / "pyproject.toml").write_text(text)
    stack = load_stack(root, env, environ=environ)
    InstancePaths(stack.state_dir).ensure()
    (root / "pyproject.toml").write_text(breaker(text))
    return stack.instance_id, stack.state_dir


CASES: dict[str, tuple[dict[str, str], str]] = {
    "the default .realstack/<env>": ({}, ""),
    "REALSTACK_STATE_DIR outside the project": ({"REALSTACK_STATE_DIR": "{tmp}/shared"}, ""),
    "REALSTACK_STATE_DIR inside the project": ({"REALSTACK_STATE_DIR": "var/state"}, ""),
    "REALSTACK_INSTANCE": ({"REALSTACK_INSTANCE": "shard-1"}, ""),
}


@pytest.mark.parametrize("broken", list(BROKEN))
@pytest.mark.parametrize("case", list(CASES))
def test_the_instance_without_the_manifest_is_the_one_the_manifest_gave(
    root: Path, case: str, broken: str
) -> None:
    """Same state directory, same instance id, whatever chose them."""
    environ, extra = CASES[case]
    environ = {k: v.replace("{tmp}", str(root.parent)) for k, v in environ.items()}
    instance_id, state_dir = started_then_broken(root, BROKEN[broken], environ, extra)
    found = instance_without_manifest(start=root, environ=environ)
    assert found is not None
    assert (found.state_dir, found.instance_id) == (state_dir, instance_id)


def test_a_state_dir_and_default_env_still_readable_in_the_table_are_used(root: Path) -> None:
    """The manifest parses but does not validate: its state_dir and default_env still count."""
    extra = 'state_dir = "${STATE:-var/rs}"\n'
    instance_id, state_dir = started_then_broken(root, BROKEN["unknown key"], {}, extra, "dev")
    text = (root / "pyproject.toml").read_text().replace('"test"', '"dev"')
    (root / "pyproject.toml").write_text(text)
    found = instance_without_manifest(start=root, environ={})
    assert found is not None
    assert (found.env, found.state_dir, found.instance_id) == ("dev", state_dir, instance_id)


def test_the_env_comes_from_the_argument_then_realstack_env(root: Path) -> None:
    """--env over REALSTACK_ENV over default_env, as load_stack chooses."""
    _, state_dir = started_then_broken(root, BROKEN["invalid TOML"], {}, env="dev")
    by_arg = instance_without_manifest("dev", start=root, environ={"REALSTACK_ENV": "test"})
    by_var = instance_without_manifest(start=root, environ={"REALSTACK_ENV": "dev"})
    assert by_arg is not None and by_var is not None
    assert by_arg.state_dir == by_var.state_dir == state_dir


def test_no_state_directory_means_nothing_to_go_on(root: Path) -> None:
    """Never started (or another env): None, so the manifest's error stands."""
    started_then_broken(root, BROKEN["unknown key"], {})
    assert instance_without_manifest("dev", start=root, environ={}) is None


@pytest.mark.parametrize("env", ["../test", "x/y", "a b"])
def test_an_env_name_that_is_no_name_finds_nothing(root: Path, env: str) -> None:
    """A path in an env name never becomes a place to look."""
    started_then_broken(root, BROKEN["unknown key"], {})
    (root / ".realstack" / "x" / "y").mkdir(parents=True)
    assert instance_without_manifest(start=root, environ={"REALSTACK_ENV": env}) is None


def test_the_project_root_is_found_above_the_cwd_even_when_its_pyproject_is_no_toml(
    root: Path,
) -> None:
    """A subdirectory's stop finds the project whose manifest is broken."""
    started_then_broken(root, BROKEN["invalid TOML"], {})
    (root / "src" / "pkg").mkdir(parents=True)
    assert project_root(root / "src" / "pkg") == root.resolve()


def test_the_names_are_those_with_a_record_or_a_log(tmp_path: Path) -> None:
    """Records and logs name services; the traceback log and temp files do not."""
    paths = InstancePaths(tmp_path / "test")
    paths.ensure()
    for name in ("db.json", ".db.json.tmp1", "notes.txt"):
        (paths.services / name).write_text("{}")
    for name in ("app.log", "realstack.log"):
        (paths.logs / name).write_text("")
    assert recorded_names(paths) == ["app", "db"]


# --------------------------------------------------------------------------- the task


def exit_of(**options: object) -> Exit:
    with pytest.raises(Exit) as info:
        tasks.stop(Context(), **options)
    return info.value


@pytest.mark.parametrize("option", [{"only": "cache"}, {"purge": True}])
def test_only_and_purge_on_a_broken_manifest_are_refused_with_the_way_out(
    root: Path, monkeypatch: pytest.MonkeyPatch, option: dict[str, object]
) -> None:
    """Exit 2 with the manifest's field path and what does work; nothing is looked at."""
    started_then_broken(root, BROKEN["unknown key"], {})
    monkeypatch.chdir(root)
    done = exit_of(**option)
    assert done.code == 2
    assert str(done.message).startswith("realstack: tool.realstack.services.cache.colour: ")
    flag = "--only" if "only" in option else "--purge"
    assert f"{flag} cannot be used; `services.stop` alone stops from the records" in str(
        done.message
    )


def test_a_broken_manifest_without_a_state_directory_is_the_manifest_error(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing was ever started here: exit 2, the error as load_stack says it."""
    (root / "pyproject.toml").write_text(BROKEN["unknown key"](MANIFEST.format(extra="")))
    monkeypatch.chdir(root)
    done = exit_of()
    assert done.code == 2
    assert done.message == "realstack: tool.realstack.services.cache.colour: unknown key"


def test_a_service_that_would_not_stop_makes_the_stop_exit_1_naming_it(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 1, the failure on stderr after the manifest's error (the stop itself: a seam)."""
    started_then_broken(root, BROKEN["unknown key"], {})
    monkeypatch.chdir(root)
    error = StopFailed("processes 4242 survived SIGKILL", provider="native", service="cache")
    report = Report((ServiceResult("cache", Action.FAILED, error=error),), 0.1)
    monkeypatch.setattr(salvage, "stop_from_records", lambda *a, **k: report)
    done = exit_of()
    err = capsys.readouterr().err
    assert done.code == 1
    assert "the manifest cannot be loaded: tool.realstack.services.cache.colour" in err
    assert "✗ processes 4242 survived SIGKILL" in err
