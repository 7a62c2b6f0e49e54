"""Start, stop and restart above the provider seam: the orchestrator on the scripted
FakeProvider, timed by a fake clock (sleeping advances it; nothing really waits)."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from realstack import _launch, orchestrator
from realstack._launch import Launch
from realstack.errors import (
    LockTimeout,
    PortInUse,
    ProbeTimeout,
    RealstackError,
    ServiceExited,
    StopFailed,
)
from realstack.manifest import build_stack
from realstack.model import Service, Stack
from realstack.providers import Found
from realstack.providers.fake import FakeHandle, FakeProvider, Script
from realstack.providers.placement import Placement
from realstack.records import ProcessRecord, Record, Records, Settings
from realstack.results import Action, Event, Report, ServiceResult
from realstack.state import InstancePaths
from realstack.testing import FakeClock

START = 1000.0

# db ← api ← web: a chain, so dependency order is the only order there is.
SERVICES: dict[str, Any] = {
    "db": {
        "kind": "postgres",
        "port": "${DB_PORT:-15432}",
        "user": "u",
        "database": "d",
        "startup_timeout": "${DB_TIMEOUT:-30}",
    },
    "api": {
        "kind": "process",
        "port": 18001,
        "command": ["{python}", "-m", "api"],
        "depends_on": ["db"],
    },
    "web": {
        "kind": "process",
        "port": 18002,
        "command": ["{python}", "-m", "web"],
        "depends_on": ["api"],
    },
}


class Seen:
    """A progress callback that keeps every (service, event, detail)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Event, str]] = []
        self._lock = threading.Lock()

    def __call__(self, service: str, event: Event, detail: str) -> None:
        with self._lock:
            self.events.append((service, event, detail))

    def of(self, event: Event) -> list[tuple[str, str]]:
        return [(s, d) for s, e, d in self.events if e == event]


def stack_at(root: Path, services: Mapping[str, Any] = SERVICES, **variables: str) -> Stack:
    return build_stack(
        {"services": dict(services)}, root=root, env="test", variables=dict(variables)
    )


class World:
    """One project in tmp_path: its stack, the fake provider, a fake clock, what was said."""

    def __init__(
        self, root: Path, services: Mapping[str, Any] = SERVICES, **variables: str
    ) -> None:
        self.root = root
        self.stack = stack_at(root, services, **variables)
        self.fake = FakeProvider(self.stack)
        self.time = FakeClock()
        self.seen = Seen()

    def start(
        self,
        only: Sequence[str] | None = None,
        *,
        stack: Stack | None = None,
        timeout: float | None = None,
        wait: bool = True,
        lock_timeout: float = 300.0,
    ) -> Report:
        stack = stack or self.stack
        return orchestrator.start(
            stack,
            only=only,
            wait=wait,
            timeout=timeout,
            progress=self.seen,
            lock_timeout=lock_timeout,
            placement=Placement.single(stack, self.fake),
            clock=self.time.clock,
        )

    def stop(self, only: Sequence[str] | None = None, *, lock_timeout: float = 300.0) -> Report:
        return orchestrator.stop(
            self.stack,
            only=only,
            progress=self.seen,
            lock_timeout=lock_timeout,
            placement=Placement.single(self.stack, self.fake),
            clock=self.time.clock,
        )

    @property
    def paths(self) -> InstancePaths:
        return InstancePaths(self.stack.state_dir)

    @property
    def records(self) -> Records:
        return Records(self.paths, self.stack.instance_id)

    def asked(self, what: str) -> list[str]:
        """The services the fake was asked to ``what`` ("start", "stop" …), in order."""
        return [name for event, name in self.fake.events if event == what]


def actions(report: Report) -> dict[str, Action]:
    return {r.name: r.action for r in report.results}


def rollback(report: Report) -> dict[str, Action]:
    return {r.name: r.action for r in report.rollback}


def result(report: Report, name: str) -> ServiceResult:
    (found,) = [r for r in report.results if r.name == name]
    return found


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


# --------------------------------------------------------------------------- start


def test_a_start_starts_every_service_in_dependency_order(world: World) -> None:
    """Dependencies start (and are ready) before their dependents; each is reported started."""
    report = world.start()
    assert report.ok
    assert world.asked("start") == ["db", "api", "web"]
    assert actions(report) == {"db": Action.STARTED, "api": Action.STARTED, "web": Action.STARTED}
    assert world.asked("preflight") == ["db,api,web"]
    assert report.rollback == ()


def test_a_start_records_each_service_it_started_with_its_settings(world: World) -> None:
    """Every started service gets a record of this instance: pid, port, settings, ready time."""
    report = world.start()
    for svc in world.stack.services:
        record = world.records.read(svc.name)
        assert isinstance(record, ProcessRecord)
        assert record.instance == world.stack.instance_id
        assert record.pid == result(report, svc.name).pid == world.fake.running[svc.name].record.pid
        assert record.port == svc.port
        assert record.settings["port"] == str(svc.port)
        assert record.ready_seconds is not None
    assert world.paths.runtime_env.is_file()


def test_the_contract_a_start_writes_describes_the_records_it_wrote(world: World) -> None:
    """runtime.json says per service what its record says, ready time included, whether the
    start saw it ready itself (db, api) or only launched it (web, no ``--wait``)."""
    world.start(["api"])
    world.start(wait=False)
    written = json.loads(world.paths.runtime_json.read_text())["services"]
    for svc in world.stack.services:
        record = world.records.read(svc.name)
        assert isinstance(record, ProcessRecord)
        assert written[svc.name]["pid"] == record.pid
        assert written[svc.name]["ready_seconds"] == record.ready_seconds
    assert written["db"]["ready_seconds"] is not None
    assert written["web"]["ready_seconds"] is None


def test_a_second_start_reuses_what_runs_and_starts_nothing(world: World) -> None:
    """What is ours, running and unchanged is reused: no new start, the same pid."""
    first = world.start()
    world.fake.events.clear()
    second = world.start()
    assert second.ok
    assert actions(second) == {"db": Action.REUSED, "api": Action.REUSED, "web": Action.REUSED}
    assert world.asked("start") == []
    assert world.asked("stop") == []
    assert [r.pid for r in second.results] == [r.pid for r in first.results]
    assert [s for s, _ in world.seen.of(Event.REUSED)] == ["db", "api", "web"]


def test_readiness_time_is_measured_by_the_injected_clock(world: World) -> None:
    """Spawn → ready is the clock's time: three failed polls cost 5 ms each."""
    world.fake.scripts["db"] = Script(ready_after=3)
    report = world.start(["db"])
    assert report.ok
    assert world.time.sleeps == pytest.approx([0.005, 0.005, 0.005])
    assert result(report, "db").seconds == pytest.approx(0.015)
    assert report.seconds == pytest.approx(0.015)
    record = world.records.read("db")
    assert isinstance(record, ProcessRecord)
    assert record.ready_seconds == pytest.approx(0.015)


def test_only_starts_the_named_service_and_its_dependencies(world: World) -> None:
    """``only`` brings its dependencies along, nothing else."""
    report = world.start(["api"])
    assert world.asked("start") == ["db", "api"]
    assert actions(report) == {"db": Action.STARTED, "api": Action.STARTED}


def test_without_wait_a_service_nobody_needs_healthy_is_not_awaited(world: World) -> None:
    """wait=False: a leaf is started and reported, never polled; its dependencies still are."""
    world.fake.scripts["web"] = Script(ready_after=10**9)
    world.fake.scripts["db"] = Script(ready_after=2)
    report = world.start(wait=False)
    assert report.ok
    assert actions(report)["web"] == Action.STARTED
    assert world.fake.running["web"].polls == 0
    assert world.fake.running["db"].polls == 3


# --------------------------------------------------------------------------- failures


def test_a_failed_start_rolls_back_what_it_started_but_keeps_what_it_reused(
    world: World,
) -> None:
    """A failing service fails the start; what this start launched is stopped, reused stays."""
    world.start(["db"])
    world.fake.events.clear()
    error = ServiceExited("web", 3)
    world.fake.scripts["web"] = Script(start_error=error)
    report = world.start()
    assert not report.ok
    assert actions(report) == {
        "db": Action.REUSED,
        "api": Action.ROLLED_BACK,
        "web": Action.FAILED,
    }
    assert result(report, "web").error is error
    assert report.errors == [error]
    assert world.asked("stop") == ["api"]
    assert rollback(report) == {"web": Action.NOT_RUNNING, "api": Action.STOPPED}
    assert [s for s, _ in world.seen.of(Event.ROLLBACK)] == ["web", "api"]
    assert set(world.fake.running) == {"db"}
    assert isinstance(world.records.read("db"), ProcessRecord)
    assert world.records.read("api") is None


def test_a_service_that_exits_while_starting_fails_with_its_exit_code_and_log_tail(
    world: World,
) -> None:
    """An exit during readiness is ServiceExited with the code and the lines it logged."""
    world.fake.scripts["api"] = Script(exit_code=2, lines=("booting", "boom"))
    report = world.start()
    error = result(report, "api").error
    assert isinstance(error, ServiceExited)
    assert error.returncode == 2
    assert error.log_tail == ("booting", "boom")
    assert actions(report) == {
        "db": Action.ROLLED_BACK,
        "api": Action.FAILED,
        "web": Action.CANCELLED,
    }
    assert world.asked("stop") == ["api", "db"]
    assert rollback(report) == {"api": Action.STOPPED, "db": Action.STOPPED}
    assert world.fake.running == {}


def test_a_failing_service_cancels_its_dependents_before_they_start(world: World) -> None:
    """Nothing that depends on a failed service is started: it is reported cancelled."""
    world.fake.scripts["db"] = Script(start_error=ServiceExited("db", 1))
    report = world.start()
    assert world.asked("start") == ["db"]
    assert actions(report) == {
        "db": Action.FAILED,
        "api": Action.CANCELLED,
        "web": Action.CANCELLED,
    }
    assert [r.error for r in report.results if r.name != "db"] == [None, None]


def test_a_failure_cancels_a_service_still_waiting_and_rolls_it_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sibling still polling for readiness gives up at its next poll and is stopped again."""
    independent = {
        "slow": {"kind": "process", "port": 18011, "command": ["slow"], "startup_timeout": 3600},
        "bad": {"kind": "process", "port": 18012, "command": ["bad"]},
    }
    world = World(tmp_path, independent)
    world.fake.scripts["slow"] = Script(ready_after=10**9)
    world.fake.scripts["bad"] = Script(start_error=ServiceExited("bad", 1))
    launches: list[Launch] = []

    def spy(*args: Any, **kwargs: Any) -> Launch:
        launches.append(Launch(*args, **kwargs))
        return launches[-1]

    class UntilCancelled(FakeClock):
        """A poll interval lasts until the run is cancelled: the sibling fails meanwhile."""

        def sleep(self, seconds: float) -> None:
            assert launches[0].cancel.wait(timeout=10), "the failure never cancelled the wait"
            super().sleep(seconds)

    monkeypatch.setattr(_launch, "Launch", spy)  # what a start loads when it has work
    world.time = UntilCancelled()
    report = world.start()
    assert actions(report) == {"slow": Action.ROLLED_BACK, "bad": Action.FAILED}
    assert report.errors == [result(report, "bad").error]
    assert rollback(report)["slow"] == Action.STOPPED
    assert len(world.time.sleeps) <= 1  # one poll interval at most, never the 3600 s
    assert world.fake.running == {}


def test_a_service_not_ready_in_time_fails_with_a_probe_timeout(world: World) -> None:
    """ProbeTimeout carries the probe, the last objection and the elapsed time by the clock."""
    world.fake.scripts["db"] = Script(ready_after=10**9, lines=("starting",))
    report = world.start(["db"], timeout=1.5)
    error = result(report, "db").error
    assert isinstance(error, ProbeTimeout)
    assert error.timeout == 1.5
    assert error.elapsed == pytest.approx(1.5)
    assert world.time.elapsed == pytest.approx(1.5)
    assert error.probe == "postgres SELECT 1"
    assert error.last_error.startswith("warming up")
    assert error.log_tail == ("starting",)
    assert rollback(report) == {"db": Action.STOPPED}
    assert "db" not in world.fake.running


def test_a_long_readiness_wait_reports_progress_about_every_two_seconds(world: World) -> None:
    """While a service warms up, a WAITING event names elapsed/timeout and its objection."""
    world.fake.scripts["db"] = Script(ready_after=10**9)
    world.start(["db"], timeout=7)
    waiting = world.seen.of(Event.WAITING)
    assert len(waiting) == 3
    assert all(s == "db" and "s/7s: warming up" in d for s, d in waiting)


def test_an_explicit_zero_timeout_is_honoured(world: World) -> None:
    """timeout=0 means "ready right now?": one poll, no sleep, not the startup_timeout."""
    world.fake.scripts["db"] = Script(ready_after=1)
    report = world.start(["db"], timeout=0)
    error = result(report, "db").error
    assert isinstance(error, ProbeTimeout)
    assert error.timeout == 0
    assert world.time.sleeps == []


def test_without_a_timeout_each_service_waits_its_startup_timeout(tmp_path: Path) -> None:
    """timeout=None: the manifest's startup_timeout applies, per service."""
    world = World(tmp_path)
    world.fake.scripts["db"] = Script(ready_after=1)
    assert world.start(["db"]).ok

    slow = World(tmp_path / "slow", DB_TIMEOUT="2")
    slow.fake.scripts["db"] = Script(ready_after=10**9)
    error = result(slow.start(["db"]), "db").error
    assert isinstance(error, ProbeTimeout)
    assert error.timeout == 2
    assert slow.time.elapsed == pytest.approx(2)


def test_a_port_held_by_someone_else_fails_and_nothing_is_stopped_for_it(world: World) -> None:
    """PortInUse names the occupant; realstack neither stops it nor starts over it."""
    world.fake.occupied["db"] = "pid 1 (x)"
    report = world.start()
    error = result(report, "db").error
    assert isinstance(error, PortInUse)
    assert (error.port, error.owner) == (15432, "pid 1 (x)")
    assert "pid 1 (x)" in str(error)
    # where to choose another: the variable and the env file read, not "envs/<env>.env"
    assert str(error).endswith("choose another port (DB_PORT in envs/test.env or the environment).")
    assert world.asked("stop") == []
    assert world.asked("start") == []
    assert actions(report) == {
        "db": Action.FAILED,
        "api": Action.CANCELLED,
        "web": Action.CANCELLED,
    }


def test_a_port_held_by_an_unknown_process_says_it_cannot_see_who(world: World) -> None:
    """An occupant the provider cannot name ("") is still PortInUse, with no owner."""
    world.fake.occupied["db"] = ""
    error = result(world.start(["db"]), "db").error
    assert isinstance(error, PortInUse)
    assert error.owner is None
    assert "cannot see" in str(error)


class RaisingProvider(FakeProvider):
    """A provider with a bug: starting ``api`` raises something no provider should."""

    def __init__(self, stack: Stack) -> None:
        super().__init__(stack)
        self.raised: list[BaseException] = []

    def start(self, svc: Service, env: dict[str, str], settings: Settings) -> FakeHandle:
        if svc.name == "api":
            exc = ValueError("bad value in the provider")
            self.raised.append(exc)
            raise exc
        return super().start(svc, env, settings)


def test_an_unexpected_exception_becomes_an_error_naming_the_service_and_its_traceback(
    world: World,
) -> None:
    """A provider's bug is a RealstackError for the user; its traceback goes to realstack.log."""
    world.fake = RaisingProvider(world.stack)
    report = world.start()
    error = result(report, "api").error
    log = world.paths.logs / "realstack.log"
    assert type(error) is RealstackError
    assert str(error).startswith("api: unexpected ValueError: bad value in the provider")
    assert str(log) in str(error)
    assert error.__cause__ is world.fake.raised[0]
    assert "ValueError: bad value in the provider" in log.read_text()
    assert "Traceback" in log.read_text()
    assert actions(report) == {
        "db": Action.ROLLED_BACK,
        "api": Action.FAILED,
        "web": Action.CANCELLED,
    }


# --------------------------------------------------------------------------- what is in the way


def test_a_changed_setting_restarts_the_service_instead_of_reusing_it(world: World) -> None:
    """Drift (here a new port) stops the running service and starts it again: restarted
    (not started: a session that stops what it started must leave it running)."""
    world.start(["db"])
    old_pid = world.fake.running["db"].record.pid
    world.fake.events.clear()
    moved = stack_at(world.root, DB_PORT="15433")
    report = world.start(["db"], stack=moved)
    assert report.ok
    assert world.fake.events == [("preflight", "db"), ("stop", "db"), ("start", "db")]
    assert actions(report) == {"db": Action.RESTARTED}
    assert result(report, "db").pid != old_pid
    assert result(report, "db").port == 15433
    ((_, detail),) = world.seen.of(Event.DRIFT)
    assert "port 15432 → 15433" in detail
    record = world.records.read("db")
    assert isinstance(record, ProcessRecord)
    assert record.port == 15433


def test_a_moved_dependency_restarts_its_dependents_too(world: World) -> None:
    """A dependent's environment includes its dependency's exports: it drifts with it."""
    world.start()
    world.fake.events.clear()
    report = world.start(stack=stack_at(world.root, DB_PORT="15433"))
    assert report.ok
    assert actions(report) == {
        "db": Action.RESTARTED,
        "api": Action.RESTARTED,
        "web": Action.RESTARTED,
    }
    assert world.asked("stop") == ["db", "api", "web"]
    assert [s for s, d in world.seen.of(Event.DRIFT) if "env changed" in d] == ["api", "web"]


def test_a_stack_started_by_another_interpreter_is_reused_not_restarted(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shell's `invoke services.start`, then `nox -s e2e` (a venv's python): the default
    ``{python}`` is whichever realstack runs on, so neither restarts the other's apps."""
    world.start()
    world.fake.events.clear()
    monkeypatch.setattr(sys, "executable", "/project/.nox/e2e/bin/python")

    report = world.start(stack=stack_at(world.root))

    assert report.ok
    assert actions(report) == dict.fromkeys(("db", "api", "web"), Action.REUSED)
    assert world.seen.of(Event.DRIFT) == []


def test_a_python_the_manifest_names_is_drift_when_it_changes(world: World) -> None:
    with_python = {"services": dict(SERVICES), "python": ".venv/bin/python"}
    world.start(stack=build_stack(with_python, root=world.root, env="test", variables={}))
    world.fake.events.clear()
    other = {"services": dict(SERVICES), "python": ".venv2/bin/python"}

    report = world.start(stack=build_stack(other, root=world.root, env="test", variables={}))

    assert actions(report) == {
        "db": Action.REUSED,
        "api": Action.RESTARTED,
        "web": Action.RESTARTED,
    }
    assert [s for s, d in world.seen.of(Event.DRIFT) if ".venv2/bin/python" in d] == ["api", "web"]


def test_an_orphan_is_stopped_before_the_service_starts(world: World) -> None:
    """Ours without a record (an orphan) is cleared first, then the service starts fresh."""
    world.fake.orphans.add("db")
    report = world.start(["db"])
    assert report.ok
    assert world.fake.events[1:] == [("stop", "db"), ("start", "db")]
    assert actions(report) == {"db": Action.STARTED}
    assert [s for s, _ in world.seen.of(Event.ORPHANS)] == ["db"]
    assert world.fake.orphans == set()


def write_record(world: World, service: str, instance: str, pid: int = 4242) -> Path:
    svc = world.stack.service(service)
    record = ProcessRecord(
        service=service,
        instance=instance,
        provider="fake",
        pid=pid,
        create_time=1.0,
        port=svc.port,
    )
    path = world.paths.record(service)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(record)))
    return path


def test_a_record_of_another_instance_is_removed_and_never_leads_to_a_stop(
    world: World,
) -> None:
    """A foreign record is ignored (nothing signalled) and replaced by this start's own."""
    write_record(world, "db", instance="someone-else")
    report = world.start(["db"])
    assert report.ok
    assert world.asked("stop") == []
    assert actions(report) == {"db": Action.STARTED}
    assert [s for s, _ in world.seen.of(Event.STALE)] == ["db"]
    record = world.records.read("db")
    assert isinstance(record, ProcessRecord)
    assert record.instance == world.stack.instance_id
    assert record.pid != 4242


def test_a_stale_record_is_removed_and_nothing_is_signalled(world: World) -> None:
    """A record of ours whose process is gone is dropped; the service starts anew."""
    write_record(world, "db", instance=world.stack.instance_id)
    report = world.start(["db"])
    assert report.ok
    assert world.asked("stop") == []
    assert [s for s, d in world.seen.of(Event.STALE) if "gone" in d] == ["db"]
    record = world.records.read("db")
    assert isinstance(record, ProcessRecord)
    assert record.pid != 4242


# --------------------------------------------------------------------------- stop


def test_stop_stops_dependents_first_and_removes_the_records(world: World) -> None:
    """Stop runs in reverse dependency order; each is stopped with its pid; records go."""
    started = world.start()
    world.fake.events.clear()
    report = world.stop()
    assert report.ok
    assert world.asked("stop") == ["web", "api", "db"]
    assert [(r.name, r.action) for r in report.results] == [
        ("web", Action.STOPPED),
        ("api", Action.STOPPED),
        ("db", Action.STOPPED),
    ]
    assert {r.name: r.pid for r in report.results} == {r.name: r.pid for r in started.results}
    assert all(world.records.read(s.name) is None for s in world.stack.services)
    assert world.fake.running == {}
    assert world.asked("finish") == ["db,api,web"]


def test_a_stop_failure_is_a_failed_result_and_the_others_still_stop(world: World) -> None:
    """StopFailed for one service is its FAILED result; the rest of the stop carries on."""
    world.start()
    world.fake.events.clear()
    world.fake.scripts["api"] = Script(stop_error=True)
    report = world.stop()
    assert not report.ok
    assert actions(report) == {
        "web": Action.STOPPED,
        "api": Action.FAILED,
        "db": Action.STOPPED,
    }
    error = result(report, "api").error
    assert isinstance(error, StopFailed)
    assert error.service == "api"
    assert world.asked("stop") == ["web", "api", "db"]
    assert set(world.fake.running) == {"api"}
    assert isinstance(world.records.read("api"), ProcessRecord)


def test_stopping_what_does_not_run_is_not_running(world: World) -> None:
    """Nothing recorded, nothing found: every service is NOT_RUNNING and nothing is stopped."""
    report = world.stop()
    assert report.ok
    assert actions(report) == {
        "web": Action.NOT_RUNNING,
        "api": Action.NOT_RUNNING,
        "db": Action.NOT_RUNNING,
    }
    assert world.asked("stop") == []


def test_stop_removes_a_foreign_record_without_stopping_anything(world: World) -> None:
    """A record of another instance is not ours to act on: removed, never signalled."""
    path = write_record(world, "db", instance="someone-else")
    report = world.stop(["db"])
    assert actions(report) == {"db": Action.NOT_RUNNING}
    assert world.asked("stop") == []
    assert not path.exists()


def test_stop_reports_a_stale_record_and_removes_it(world: World) -> None:
    """A record of ours with nothing behind it is STALE: removed, nothing signalled."""
    path = write_record(world, "db", instance=world.stack.instance_id)
    report = world.stop(["db"])
    assert actions(report) == {"db": Action.STALE}
    assert world.asked("stop") == []
    assert not path.exists()


def test_stop_stops_an_orphan(world: World) -> None:
    """Ours without a record is stopped too, so nothing of ours outlives a stop."""
    world.fake.orphans.add("api")
    report = world.stop(["api"])
    assert actions(report) == {"api": Action.STOPPED}
    assert world.asked("stop") == ["api"]
    assert world.fake.orphans == set()


# --------------------------------------------------------------------------- restart


def test_restart_stops_one_service_and_starts_it_again(world: World) -> None:
    """restart = stop that one service, then start it (waiting for health); its pid changes."""
    world.start()
    old_pid = world.fake.running["api"].record.pid
    world.fake.events.clear()
    report = orchestrator.restart(
        world.stack,
        "api",
        placement=Placement.single(world.stack, world.fake),
        clock=world.time.clock,
    )
    assert report.ok
    assert world.asked("stop") == ["api"]
    assert world.asked("start") == ["api"]
    assert actions(report) == {"db": Action.REUSED, "api": Action.STARTED}
    assert result(report, "api").pid != old_pid


# --------------------------------------------------------------------------- the lock


def test_a_start_waits_for_the_lock_then_gives_up_with_lock_timeout(world: World) -> None:
    """While another run holds the lock: LOCK progress every ~2 s, then LockTimeout."""
    world.paths.ensure()
    held = FileLock(world.paths.lock)
    with held, pytest.raises(LockTimeout, match=r"waited 5s"):
        world.start(lock_timeout=5)
    assert world.time.elapsed == pytest.approx(5)
    ticks = world.seen.of(Event.LOCK)
    assert len(ticks) == 2
    assert all(s == "realstack" and "another realstack run holds" in d for s, d in ticks)
    assert world.fake.events == []


def test_a_stop_waits_for_the_lock_too(world: World) -> None:
    """Stop takes the same lock: it never stops services under another run's feet."""
    world.paths.ensure()
    with FileLock(world.paths.lock), pytest.raises(LockTimeout):
        world.stop(lock_timeout=1)
    assert world.fake.events == []


def test_the_lock_is_released_after_a_start(world: World) -> None:
    """Once a start is done, the next run takes the lock at once."""
    world.start(["db"])
    lock = FileLock(world.paths.lock)
    lock.acquire(timeout=0)
    lock.release()


def test_a_start_asks_each_provider_once_per_service_before_it_starts(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the port check found is what the launch acts on (nothing else changes a service
    in between under the instance lock): one ``find`` per service before its start."""
    find = world.fake.find

    def noted(svc: Service, record: Record | None) -> Found:
        world.fake.events.append(("find", svc.name))
        return find(svc, record)

    monkeypatch.setattr(world.fake, "find", noted)
    assert world.start().ok
    for svc in world.stack.services:
        before = world.fake.events[: world.fake.events.index(("start", svc.name))]
        assert before.count(("find", svc.name)) == 1, svc.name
