"""A start checks every port it needs before it starts anything: a conflict on the last
service costs nothing, and each conflict is named at once."""

from __future__ import annotations

from pathlib import Path

from test_orchestrator import World, actions

from realstack.errors import PortInUse, ProbeTimeout
from realstack.providers.fake import Script
from realstack.results import Action, Event


def test_a_taken_port_on_the_last_service_starts_nothing(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.fake.occupied["web"] = "pid 4242 (nginx)"

    report = world.start()

    assert world.asked("start") == []
    assert actions(report) == {
        "db": Action.CANCELLED,
        "api": Action.CANCELLED,
        "web": Action.FAILED,
    }
    error = report.errors[0]
    assert isinstance(error, PortInUse)
    assert "pid 4242 (nginx)" in str(error)


def test_every_taken_port_is_named_in_one_start(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.fake.occupied.update(db="pid 1 (postgres)", web="pid 2 (nginx)")

    report = world.start()

    assert sorted(e.service for e in report.errors if isinstance(e, PortInUse)) == ["db", "web"]


def test_a_port_held_by_our_own_running_service_is_not_a_conflict(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.start().raise_for_errors()
    world.fake.occupied["db"] = "realstack's own postgres"  # it answers on its port, of course

    report = world.start()

    assert report.ok
    assert actions(report)["db"] == Action.REUSED


def test_a_process_listening_elsewhere_is_named_in_the_timeout(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.fake.scripts["web"] = Script(ready_after=10**6, listens=(("127.0.0.1", 18999),))

    report = world.start(timeout=3)

    error = next(e for e in report.errors if isinstance(e, ProbeTimeout))
    assert "its process listens on 127.0.0.1:18999, not on port 18002" in str(error)
    waiting = [d for s, d in world.seen.of(Event.WAITING) if s == "web"]
    assert waiting and "listens on 127.0.0.1:18999" in waiting[-1]


def test_a_service_is_not_stopped_for_a_new_port_someone_else_holds(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.start().raise_for_errors()
    moved = World(tmp_path, DB_PORT="25432")
    moved.fake, moved.time = world.fake, world.time
    world.fake.occupied["db"] = "pid 7 (another project's postgres)"

    report = moved.start()

    assert isinstance(report.errors[0], PortInUse)
    assert "db" not in world.asked("stop")  # the running db keeps running on its old port
    assert world.asked("start").count("db") == 1
