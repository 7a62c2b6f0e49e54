"""A start with nothing to do: everything asked for runs as ours, current and answering. It
takes neither the instance lock nor the machine's registry lock, writes nothing, and says what
the locked start says; anything less and the locked start decides, as before."""

from __future__ import annotations

from pathlib import Path

import pytest
from filelock import FileLock
from test_oneshot import STACK
from test_orchestrator import World, actions

from realstack import registry
from realstack.providers.fake import Script
from realstack.results import Action, Event


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


@pytest.fixture
def up(world: World) -> World:
    """The stack started once; what the fake was asked and what was said, forgotten."""
    assert world.start().ok
    world.fake.events.clear()
    world.seen.events.clear()
    return world


def test_a_warm_start_waits_for_no_lock(up: World) -> None:
    """Another run holds the instance lock and the machine's registry lock: a start that
    has nothing to do answers anyway, as the locked start would have."""
    with FileLock(up.paths.lock), registry.lock():
        report = up.start(lock_timeout=0)
    assert report.ok
    assert actions(report) == {"db": Action.REUSED, "api": Action.REUSED, "web": Action.REUSED}
    assert [s for s, _ in up.seen.of(Event.REUSED)] == ["db", "api", "web"]
    assert up.seen.of(Event.LOCK) == []
    assert up.fake.events == []  # not even a preflight


def test_a_warm_start_writes_nothing(up: World) -> None:
    """The contract, the records and the registry entry are already what it would write."""
    files = [up.paths.runtime_env, up.paths.runtime_json, registry.home() / "instances"]
    files += sorted(up.paths.services.glob("*.json"))
    files += sorted((registry.home() / "instances").glob("*.json"))
    before = {p: p.stat().st_mtime_ns for p in files}
    assert up.start().ok
    assert {p: p.stat().st_mtime_ns for p in files} == before


def test_a_service_not_answering_at_once_is_waited_for_under_the_lock(up: World) -> None:
    """A probe that fails at the first attempt is the locked start's: it waits, as before."""
    api = up.fake.running["api"]
    api.script, api.polls = Script(ready_after=4), 0  # a poll each: two warm checks, then 2
    with FileLock(up.paths.lock), pytest.raises(Exception, match="another realstack run"):
        up.start(lock_timeout=0)
    report = up.start()
    assert actions(report)["api"] == Action.REUSED
    assert up.time.sleeps  # the locked start polled until it answered


def test_a_contract_not_current_is_written_again(up: World) -> None:
    up.paths.runtime_env.unlink()
    assert up.start().ok
    assert up.paths.runtime_env.is_file()


def test_a_service_to_start_takes_the_locked_start(up: World) -> None:
    up.fake.running["web"].stopped = True
    up.fake.running.pop("web")
    report = up.start()
    assert actions(report) == {"db": Action.REUSED, "api": Action.REUSED, "web": Action.STARTED}
    assert up.asked("start") == ["web"]


def test_a_current_task_is_up_to_date_without_the_lock(tmp_path: Path) -> None:
    (tmp_path / "migrations").mkdir()
    world = World(tmp_path, STACK)
    world.fake.scripts["migrate"] = Script(exit_code=0)
    assert world.start().ok
    with FileLock(world.paths.lock):
        report = world.start(lock_timeout=0)
    assert actions(report) == {
        "db": Action.REUSED,
        "migrate": Action.UP_TO_DATE,
        "api": Action.REUSED,
    }
    assert [s for s, _ in world.seen.of(Event.UP_TO_DATE)] == ["migrate"]


def test_a_task_due_takes_the_locked_start(tmp_path: Path) -> None:
    (tmp_path / "migrations").mkdir()
    world = World(tmp_path, STACK)
    world.fake.scripts["migrate"] = Script(exit_code=0)
    assert world.start().ok
    (tmp_path / "migrations" / "002_more.py").write_text("# add a column\n")
    report = world.start()
    assert actions(report)["migrate"] == Action.COMPLETED
    assert actions(report)["api"] == Action.RESTARTED  # it runs on what the migration made
