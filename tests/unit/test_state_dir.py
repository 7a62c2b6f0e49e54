"""A damaged state directory is one StateDirError naming the path and the fix, said before
anything starts or stops; realstack never removes what is in the way. A start that fails
late (the env contract cannot be written) rolls back what it started."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import plant
from realstack import orchestrator, runtime
from realstack.errors import RealstackError
from realstack.logfiles import tail
from realstack.manifest import build_stack
from realstack.model import Service, Stack
from realstack.providers.fake import FakeHandle, FakeProvider
from realstack.providers.placement import Placement
from realstack.records import ProcessRecord, Records, Settings
from realstack.results import Action, Report
from realstack.state import ELSEWHERE, InstancePaths, StateDirError, write_atomic
from realstack.testing import FakeClock

SERVICES: dict[str, Any] = {
    "db": {"kind": "redis", "port": 16379},
    "api": {"kind": "process", "port": 18001, "command": ["x"], "depends_on": ["db"]},
}
NAMES = ("db", "api")


@pytest.fixture
def paths(tmp_path: Path) -> InstancePaths:
    return InstancePaths(tmp_path / ".realstack" / "test")


def damaged(paths: InstancePaths, where: Callable[[InstancePaths], Path], kind: str) -> Path:
    """Put a file (``kind="file"``), directory or FIFO where ``where`` points."""
    return plant(where(paths), kind)


def refusal(paths: InstancePaths, *, write: bool = True) -> StateDirError:
    with pytest.raises(StateDirError) as info:
        paths.check(NAMES, write=write)
    return info.value


# --------------------------------------------------------------------------- check


DAMAGE = [
    ("services is a file", lambda p: p.services, "file"),
    ("logs is a file", lambda p: p.logs, "file"),
    ("data is a file", lambda p: p.data, "file"),
    ("a service's data is a file", lambda p: p.data_for("db"), "file"),
    ("the instance directory is a file", lambda p: p.root, "file"),
    ("the lock is a directory", lambda p: p.lock, "dir"),
    ("runtime.env is a directory", lambda p: p.runtime_env, "dir"),
    ("runtime.json is a directory", lambda p: p.runtime_json, "dir"),
    ("a record is a directory", lambda p: p.record("api"), "dir"),
    ("a record is a FIFO", lambda p: p.record("api"), "fifo"),
    ("a log is a directory", lambda p: p.log("db"), "dir"),
]


@pytest.mark.parametrize(("where", "kind"), [d[1:] for d in DAMAGE], ids=[d[0] for d in DAMAGE])
@pytest.mark.parametrize("write", [True, False], ids=["start-stop", "status"])
def test_each_damaged_part_is_one_error_naming_it_and_the_fix(
    paths: InstancePaths, where: Callable[[InstancePaths], Path], kind: str, write: bool
) -> None:
    """A file where a directory belongs (or the reverse) names that path and says to move it."""
    path = damaged(paths, where, kind)
    err = refusal(paths, write=write)
    assert err.path == path
    assert str(path) in str(err)
    assert "move it aside" in err.fix
    assert err.exit_code == 1
    assert isinstance(err, RealstackError)


def test_a_state_base_that_is_a_file_says_to_point_state_dir_elsewhere(
    paths: InstancePaths,
) -> None:
    """REALSTACK_STATE_DIR pointing at a file: the fix names the setting."""
    paths.base.parent.mkdir(parents=True, exist_ok=True)
    paths.base.write_text("a file\n")
    err = refusal(paths)
    assert err.path == paths.base
    assert err.fix == ELSEWHERE
    assert "REALSTACK_STATE_DIR" in str(err)


def test_a_state_dir_under_a_file_names_the_file(tmp_path: Path) -> None:
    """``REALSTACK_STATE_DIR=notes.txt/sub``: the file in the way is named."""
    (tmp_path / "notes.txt").write_text("x\n")
    paths = InstancePaths(tmp_path / "notes.txt" / "sub" / "test")
    err = refusal(paths)
    assert err.path == tmp_path / "notes.txt"
    assert "nothing can be created under it" in err.problem


@pytest.mark.parametrize("write", [True, False], ids=["start-stop", "status"])
def test_a_state_dir_this_user_cannot_use_names_it(
    paths: InstancePaths, monkeypatch: pytest.MonkeyPatch, write: bool
) -> None:
    """An unreadable (or, to change it, unwritable) directory names the path and the fix."""
    paths.services.mkdir(parents=True)
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != paths.services)
    err = refusal(paths, write=write)
    assert err.path == paths.services
    assert "cannot" in err.problem
    assert "chmod" in err.fix


def test_a_missing_state_dir_is_fine_and_check_creates_nothing(paths: InstancePaths) -> None:
    """Nothing there yet is the normal first run; check only looks."""
    paths.check(NAMES, write=True)
    paths.check(NAMES, write=False)
    assert not paths.base.exists()


def test_a_whole_state_dir_passes(paths: InstancePaths) -> None:
    """A tree realstack made itself is accepted."""
    paths.ensure(NAMES)
    for name in NAMES:
        paths.record(name).write_text("{}")
        paths.log(name).write_text("")
    paths.lock.write_text("")
    paths.check(NAMES)


# --------------------------------------------------------------------------- ensure and writes


def test_ensure_refuses_a_component_that_is_a_file_and_removes_nothing(
    paths: InstancePaths,
) -> None:
    """``ensure`` with ``logs`` a file: StateDirError, and the file is still there."""
    logs = damaged(paths, lambda p: p.logs, "file")
    with pytest.raises(StateDirError) as info:
        paths.ensure()
    assert info.value.path == logs
    assert logs.read_text() == "someone's notes\n"


def test_ensure_turns_a_failed_mkdir_into_a_state_dir_error(
    paths: InstancePaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A directory that cannot be created (read-only place) names it."""

    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(StateDirError) as info:
        paths.ensure()
    assert info.value.path == paths.base
    assert "Permission denied" in info.value.problem


def record(service: str = "api") -> ProcessRecord:
    return ProcessRecord(service, "id", "fake", pid=4242, create_time=1.0, port=18001)


def test_deleting_a_record_that_is_a_directory_names_it_and_keeps_it(
    paths: InstancePaths,
) -> None:
    """Records.delete on a directory: StateDirError; the directory and its content stay."""
    path = damaged(paths, lambda p: p.record("api"), "dir")
    with pytest.raises(StateDirError) as info:
        Records(paths, "id").delete("api")
    assert info.value.path == path
    assert (path / "inside").read_text() == "keep me\n"


def test_deleting_a_missing_record_is_fine(paths: InstancePaths) -> None:
    """Absent is what delete wants anyway."""
    Records(paths, "id").delete("api")


def test_writing_a_record_over_a_directory_names_it(paths: InstancePaths) -> None:
    """Records.write where a directory is: StateDirError naming the record path."""
    path = damaged(paths, lambda p: p.record("api"), "dir")
    with pytest.raises(StateDirError) as info:
        Records(paths, "id").write(record())
    assert info.value.path == path


def test_write_atomic_onto_a_directory_names_it_and_leaves_no_temp_file(tmp_path: Path) -> None:
    """The rename onto a directory fails as a StateDirError; the temp file is removed."""
    target = tmp_path / "runtime.env"
    target.mkdir()
    with pytest.raises(StateDirError) as info:
        write_atomic(target, "X=1\n")
    assert info.value.path == target
    assert "is a directory" in info.value.problem
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runtime.env"]


def test_write_atomic_into_a_file_instead_of_a_directory_names_it(tmp_path: Path) -> None:
    """The directory to write in is a file: that file is named."""
    (tmp_path / "services").write_text("x")
    with pytest.raises(StateDirError) as info:
        write_atomic(tmp_path / "services" / "api.json", "{}")
    assert info.value.path == tmp_path / "services"


def test_log_tails_of_damaged_paths_are_empty(tmp_path: Path) -> None:
    """Reading a log that is a directory (or under a file) gives nothing, never an OSError."""
    (tmp_path / "dir.log").mkdir()
    (tmp_path / "file").write_text("x")
    assert tail(tmp_path / "dir.log") == []
    assert tail(tmp_path / "file" / "x.log") == []


# --------------------------------------------------------------------------- the orchestrator


class World:
    """A project in tmp_path on the fake provider."""

    def __init__(self, root: Path, provider: type[FakeProvider] = FakeProvider) -> None:
        self.stack: Stack = build_stack({"services": SERVICES}, root=root, env="test", variables={})
        self.fake = provider(self.stack)
        self.paths = InstancePaths(self.stack.state_dir)

    def start(self) -> Report:
        return orchestrator.start(
            self.stack,
            placement=Placement.single(self.stack, self.fake),
            clock=FakeClock().clock,
        )

    def stop(self) -> Report:
        return orchestrator.stop(
            self.stack,
            placement=Placement.single(self.stack, self.fake),
            clock=FakeClock().clock,
        )


def test_a_start_with_the_lock_a_directory_fails_before_anything_starts(tmp_path: Path) -> None:
    """paths.lock a directory: StateDirError naming it, and the provider was asked nothing."""
    world = World(tmp_path)
    lock = damaged(world.paths, lambda p: p.lock, "dir")
    with pytest.raises(StateDirError) as info:
        world.start()
    assert info.value.path == lock
    assert world.fake.events == []


def test_a_stop_with_services_a_file_fails_before_anything_stops(tmp_path: Path) -> None:
    """The same check guards stop."""
    world = World(tmp_path)
    services = damaged(world.paths, lambda p: p.services, "file")
    with pytest.raises(StateDirError) as info:
        world.stop()
    assert info.value.path == services
    assert world.fake.events == []


class DamagingProvider(FakeProvider):
    """Starting ``api`` (the last service) puts a directory where runtime.env goes: the
    damage happens after every check, while the services come up."""

    def start(self, svc: Service, env: dict[str, str], settings: Settings) -> FakeHandle:
        if svc.name == "api":
            InstancePaths(self.stack.state_dir).runtime_env.mkdir()
        return super().start(svc, env, settings)


def test_a_start_whose_env_contract_cannot_be_written_fails_and_rolls_back(
    tmp_path: Path,
) -> None:
    """runtime.write failing once all is up is an error in the report, and rolls the start back."""
    world = World(tmp_path, DamagingProvider)
    report = world.start()
    assert not report.ok
    [error] = report.errors
    assert isinstance(error, StateDirError)
    assert error.path == world.paths.runtime_env
    assert {r.name: r.action for r in report.results} == {
        "db": Action.ROLLED_BACK,
        "api": Action.ROLLED_BACK,
        orchestrator.OPERATION: Action.FAILED,
    }
    assert {r.name: r.action for r in report.rollback} == {
        "api": Action.STOPPED,
        "db": Action.STOPPED,
    }
    assert world.fake.running == {}
    assert Records(world.paths, world.stack.instance_id).read("db") is None
    assert (world.paths.runtime_env).is_dir()  # left for the user to look at


def test_an_unexpected_failure_of_the_contract_write_keeps_its_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anything runtime.write raises becomes a message naming the log that holds its traceback."""
    world = World(tmp_path)

    def broken(stack: Stack, placement: Placement, known: object = None) -> None:
        raise ValueError("contract bug")

    monkeypatch.setattr(runtime, "write", broken)
    report = world.start()
    [error] = report.errors
    log = world.paths.logs / "realstack.log"
    assert str(error).startswith("realstack: unexpected ValueError: contract bug")
    assert f"traceback in {log}" in str(error)
    assert "ValueError: contract bug" in log.read_text()
    assert world.fake.running == {}


def test_a_traceback_that_cannot_be_kept_is_not_claimed_to_be(tmp_path: Path) -> None:
    """as_error with logs/ a file says the traceback was not kept, not where it is."""
    paths = InstancePaths(tmp_path / "state" / "test")
    paths.root.mkdir(parents=True)
    paths.logs.write_text("not a directory")
    error = orchestrator.as_error("api", ValueError("boom"), paths)
    assert "traceback not kept" in str(error)
    assert "traceback in" not in str(error)
