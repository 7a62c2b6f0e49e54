"""One-shot tasks above the provider seam: a migration runs before the app, once, again only
when what it runs changed, and a failing one fails the start as itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_orchestrator import World, actions

from realstack import oneshot, orchestrator
from realstack.errors import ConfigError, TaskFailed
from realstack.manifest import build_stack
from realstack.providers.fake import Script
from realstack.providers.placement import Placement
from realstack.results import Action, Event

STACK: dict[str, Any] = {
    "db": {"kind": "postgres", "port": 15432, "user": "u", "database": "d"},
    "migrate": {
        "kind": "task",
        "command": ["{python}", "-m", "alembic", "upgrade", "head"],
        "depends_on": ["db"],
        "inputs": ["migrations/*.py"],
    },
    "api": {
        "kind": "process",
        "port": 18001,
        "command": ["{python}", "-m", "api"],
        "depends_on": ["db", {"service": "migrate", "condition": "completed"}],
    },
}


@pytest.fixture
def world(tmp_path: Path) -> World:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "001_init.py").write_text("# create table users\n")
    w = World(tmp_path, STACK)
    w.fake.scripts["migrate"] = Script(exit_code=0, lines=("upgraded to 001",))
    return w


def test_the_app_starts_only_after_its_migration_exited_0(world: World) -> None:
    report = world.start()

    assert report.ok
    assert world.asked("start") == ["db", "migrate", "api"]
    assert actions(report) == {
        "db": Action.STARTED,
        "migrate": Action.COMPLETED,
        "api": Action.STARTED,
    }
    assert [s for s, _ in world.seen.of(Event.COMPLETED)] == ["migrate"]
    assert world.records.read("migrate") is None  # nothing of it runs any more


def test_an_unchanged_migration_does_not_run_again(world: World) -> None:
    world.start().raise_for_errors()
    world.stop(["api"]).raise_for_errors()

    again = world.start()

    assert actions(again)["migrate"] == Action.UP_TO_DATE
    assert world.asked("start").count("migrate") == 1
    assert [s for s, _ in world.seen.of(Event.UP_TO_DATE)] == ["migrate"]


def test_a_new_migration_file_runs_it_again(world: World) -> None:
    world.start().raise_for_errors()
    (world.root / "migrations" / "002_email.py").write_text("# add column email\n")

    again = world.start()

    assert actions(again)["migrate"] == Action.COMPLETED
    assert world.asked("start").count("migrate") == 2


def test_a_changed_command_or_a_moved_database_runs_it_again(world: World) -> None:
    world.start().raise_for_errors()
    moved = {**STACK, "db": {**STACK["db"], "port": 15433}}
    stack = build_stack({"services": moved}, root=world.root, env="test", variables={})
    world.stop().raise_for_errors()

    report = orchestrator.start(
        stack,
        placement=Placement.single(stack, world.fake),
        clock=world.time.clock,
    )

    assert actions(report)["migrate"] == Action.COMPLETED


def test_rerun_always_runs_on_every_start(world: World, tmp_path: Path) -> None:
    always = {**STACK, "migrate": {**STACK["migrate"], "rerun": "always"}}
    w = World(tmp_path, always)
    w.fake.scripts["migrate"] = Script(exit_code=0)
    w.start().raise_for_errors()

    assert actions(w.start())["migrate"] == Action.COMPLETED


def test_restart_of_a_task_runs_it_even_if_nothing_changed(world: World) -> None:
    world.start().raise_for_errors()

    report = orchestrator.restart(
        world.stack,
        "migrate",
        placement=Placement.single(world.stack, world.fake),
        clock=world.time.clock,
    )

    assert actions(report) == {
        "db": Action.REUSED,
        "migrate": Action.COMPLETED,
        "api": Action.RESTARTED,  # it runs on what the task made
    }


def test_a_failing_migration_fails_the_start_as_the_task_with_its_log_tail(
    world: World,
) -> None:
    world.fake.scripts["migrate"] = Script(exit_code=3, lines=("ERROR: relation exists",))

    report = world.start()

    error = report.errors[0]
    assert isinstance(error, TaskFailed)
    assert error.service == "migrate"
    assert error.returncode == 3
    assert "migrate: task failed: exited with code 3" in str(error)
    assert "not (re)started, as they depend on it: api" in str(error)
    assert "ERROR: relation exists" in str(error)
    assert "api" not in world.asked("start")  # what depends on it never started
    assert actions(report)["api"] == Action.CANCELLED


def test_a_failing_task_this_start_starts_nothing_after_says_nothing_was_held_back(
    world: World,
) -> None:
    """`start --only migrate`: nothing of this start depends on it, so nothing is named."""
    world.fake.scripts["migrate"] = Script(exit_code=3)

    [error] = world.start(only=["migrate"]).errors

    assert isinstance(error, TaskFailed)
    assert "migrate: task failed: exited with code 3" in str(error)
    assert "depend" not in str(error)
    assert world.asked("stop") == ["db"]  # rolled back; the task itself ended on its own


def test_a_failed_run_is_not_a_current_one(world: World) -> None:
    world.fake.scripts["migrate"] = Script(exit_code=1)
    world.start()
    world.fake.scripts["migrate"] = Script(exit_code=0)

    assert actions(world.start())["migrate"] == Action.COMPLETED


def test_a_task_still_running_at_its_deadline_is_stopped_and_fails(world: World) -> None:
    world.fake.scripts["migrate"] = Script()  # never exits

    report = world.start(timeout=5)

    error = report.errors[0]
    assert isinstance(error, TaskFailed)
    assert error.returncode is None
    assert "still running after" in str(error)
    assert "migrate" in world.asked("stop")  # the rollback stopped it


def test_without_wait_a_task_still_runs_to_completion_before_its_dependents(
    world: World,
) -> None:
    report = world.start(wait=False)

    assert actions(report)["migrate"] == Action.COMPLETED
    assert world.asked("start") == ["db", "migrate", "api"]


def test_purging_the_database_forgets_the_migration(world: World) -> None:
    world.start().raise_for_errors()
    assert oneshot.completion_keys(world.stack).keys() == {"migrate"}

    orchestrator.stop(
        world.stack,
        purge=True,
        placement=Placement.single(world.stack, world.fake),
        clock=world.time.clock,
    ).raise_for_errors()

    assert oneshot.completion_keys(world.stack) == {}
    assert actions(world.start())["migrate"] == Action.COMPLETED


@pytest.mark.parametrize(
    ("change", "path", "says"),
    [
        ({"port": 1234}, "migrate.port", "one-shot command"),
        ({"probe": "tcp"}, "migrate.probe", "one-shot command"),
        ({"exports": {"A": "b"}}, "migrate.exports", "one-shot command"),
        ({"command": []}, "migrate.command", "required for kind 'task'"),
        ({"provider": "docker"}, "migrate.provider", "always runs natively"),
        ({"rerun": "sometimes"}, "migrate.rerun", "on-change"),
        ({"inputs": ["../outside/*.py"]}, "migrate.inputs[0]", "under the project root"),
        ({"inputs": ["/etc/*"]}, "migrate.inputs[0]", "under the project root"),
    ],
)
def test_what_a_task_cannot_have_is_refused_by_field(
    tmp_path: Path, change: dict[str, Any], path: str, says: str
) -> None:
    services = {**STACK, "migrate": {**STACK["migrate"], **change}}
    with pytest.raises(ConfigError) as err:
        build_stack({"services": services}, root=tmp_path, env="test", variables={})
    assert err.value.path == f"tool.realstack.services.{path}"
    assert says in str(err.value)


@pytest.mark.parametrize(
    ("services", "path", "says"),
    [
        (
            {"api": {"depends_on": [{"service": "migrate", "condition": "started"}]}},
            "api.depends_on[1].condition",
            'use condition = "completed"',
        ),
        (
            {"api": {"depends_on": [{"service": "db", "condition": "completed"}]}},
            "api.depends_on[0].condition",
            "never completes",
        ),
        ({"db": {"rerun": "always"}}, "db.rerun", "only a task"),
        ({"db": {"inputs": ["x"]}}, "db.inputs", "only a task"),
    ],
)
def test_conditions_and_task_keys_are_checked_against_the_kind(
    tmp_path: Path, services: dict[str, Any], path: str, says: str
) -> None:
    table = {name: dict(spec) for name, spec in STACK.items()}
    for name, change in services.items():
        if "depends_on" in change and name == "api":
            deps = list(STACK["api"]["depends_on"])
            target = change["depends_on"][0]["service"]
            index = 1 if target == "migrate" else 0
            deps[index] = change["depends_on"][0]
            table[name]["depends_on"] = deps
        else:
            table[name].update(change)
    with pytest.raises(ConfigError) as err:
        build_stack({"services": table}, root=tmp_path, env="test", variables={})
    assert err.value.path == f"tool.realstack.services.{path}"
    assert says in str(err.value)


def test_a_running_app_restarts_when_its_migration_ran_again(world: World) -> None:
    world.start().raise_for_errors()
    (world.root / "migrations" / "002_email.py").write_text("# add column email\n")

    report = world.start()

    assert actions(report)["api"] == Action.RESTARTED
    assert ("api", "migrate ran; restarting") in world.seen.of(Event.DRIFT)


def test_a_running_app_is_reused_when_its_migration_was_up_to_date(world: World) -> None:
    world.start().raise_for_errors()

    assert actions(world.start())["api"] == Action.REUSED


def test_a_changed_script_the_command_names_runs_it_again(tmp_path: Path) -> None:
    script = tmp_path / "migrate.py"
    script.write_text("create table users\n")
    task = {"kind": "task", "command": ["{python}", "migrate.py"], "depends_on": ["db"]}
    w = World(tmp_path, {"db": STACK["db"], "migrate": task})
    w.fake.scripts["migrate"] = Script(exit_code=0)
    w.start().raise_for_errors()
    assert actions(w.start())["migrate"] == Action.UP_TO_DATE

    script.write_text("create table users; add column email\n")

    assert actions(w.start())["migrate"] == Action.COMPLETED


def test_restarting_a_task_restarts_the_running_apps_that_depend_on_it(world: World) -> None:
    world.start().raise_for_errors()

    report = orchestrator.restart(
        world.stack,
        "migrate",
        placement=Placement.single(world.stack, world.fake),
        clock=world.time.clock,
    )

    assert actions(report)["migrate"] == Action.COMPLETED
    assert actions(report)["api"] == Action.RESTARTED
