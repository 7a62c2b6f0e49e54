"""The provider contract: one lifecycle specification, run against every provider.

Each test is one rule of the seam in :mod:`realstack.providers`, checked for the fake, the
native provider (a real redis/valkey process) and, under ``REALSTACK_PROVIDER=docker`` (``nox
-s docker``), the docker provider (a real redis container of the repository's compose file).
A provider that passes these rules can sit under the orchestrator; a rule only one provider
needs belongs in that provider's own tests.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import psutil
import pytest

from conftest import (
    docker_client,
    free_port,
    of_compose_project,
    provider_under_test,
    throwaway_project,
)
from realstack.model import Service, Stack
from realstack.process_scan import bears
from realstack.providers import Absent, Handle, Orphan, Ours, Provider, Stale
from realstack.providers.docker import DockerProvider, project_name
from realstack.providers.fake import FakeProvider, Script
from realstack.providers.native import NativeProvider
from realstack.records import ContainerRecord, Record, Records
from realstack.state import InstancePaths
from realstack.waiting import wait_until

PROVIDERS = ["fake", "native", *(["docker"] if provider_under_test() == "docker" else [])]
MANIFEST = """
[tool.realstack.services.redis]
kind = "redis"
port = "${REDIS_PORT}"
durable = "false"
startup_timeout = 60
"""
READY = "Ready to accept connections"  # what redis and valkey print once they serve
SETTINGS = {"contract": "1"}


class Subject(NamedTuple):
    """A provider under test, the service it runs and the stack (instance) it runs it for."""

    provider: Provider
    svc: Service
    stack: Stack

    @property
    def records(self) -> Records:
        return Records(InstancePaths(self.stack.state_dir), self.stack.instance_id)


def _provider(name: str, stack: Stack) -> Provider:
    if name == "fake":
        return FakeProvider(stack, {"redis": Script(lines=(f"fake redis: {READY}",))})
    return NativeProvider(stack) if name == "native" else DockerProvider(stack)


@pytest.fixture(params=PROVIDERS)
def subject(request: pytest.FixtureRequest) -> Iterator[Subject]:
    """A throwaway project's redis under one provider; afterwards nothing of it may be left."""
    name: str = request.param
    with throwaway_project("realstack-contract-", "docker" if name == "docker" else "native") as p:
        stack = p.write(MANIFEST, {"REDIS_PORT": str(free_port())}).stack()
        subject = Subject(_provider(name, stack), stack.service("redis"), stack)
        try:
            yield subject
        finally:
            _release(subject)
            left = leftovers(subject)
            assert not left, f"outlived the test: {left}"


def _release(subject: Subject) -> None:
    """Stop whatever of the service still runs, through the provider itself."""
    provider, svc, _ = subject
    found = provider.find(svc, None)
    if isinstance(found, Ours | Orphan):
        provider.stop(svc, found)
    provider.purge(svc)
    provider.finish([svc], purge=True)


def leftovers(subject: Subject) -> list[str]:
    """What of the instance still exists: processes bearing its marks or naming its root
    (killed), its compose project's containers, networks and volumes, the fake's state."""
    provider, svc, stack = subject
    if isinstance(provider, FakeProvider):
        return [f"fake {name}" for name in [*provider.running, *provider.orphans]]
    left = []
    # By the marks themselves: valkey overwrites its environment, so an owner-variable check
    # alone (tests/conftest.py's) cannot see a leaked redis.
    marks = NativeProvider(stack).marks(svc)
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.status() != psutil.STATUS_ZOMBIE and (
                bears(proc, marks) or any(str(stack.root) in arg for arg in proc.cmdline())
            ):
                left.append(f"process {proc.pid} ({' '.join(proc.cmdline())})")
                proc.kill()
    if isinstance(provider, DockerProvider):
        label = of_compose_project(project_name(stack))
        with docker_client(timeout=10) as client:
            left += [f"container {c.name}" for c in client.containers.list(all=True, filters=label)]
            left += [f"network {n.name}" for n in client.networks.list(filters=label)]
            left += [f"volume {v.name}" for v in client.volumes.list(filters=label)]
    return left


def start(subject: Subject) -> Handle:
    """Start the service, keep its record (as the orchestrator does) and wait until ready."""
    provider, svc, _ = subject
    handle = provider.start(svc, env={}, settings=SETTINGS)
    subject.records.write(handle.record)
    probe = provider.probe(svc)
    wait_until(lambda: handle.not_ready() or probe(), svc.startup_timeout)
    return handle


def stop(subject: Subject, record: Record) -> None:
    """Stop the service its record makes Ours (as the orchestrator does)."""
    provider, svc, _ = subject
    found = provider.find(svc, record)
    assert isinstance(found, Ours), found
    provider.stop(svc, found)


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def impostors(record: Record) -> dict[str, Record]:
    """Records of this instance and provider naming something that does not exist."""
    if isinstance(record, ContainerRecord):
        return {"container gone": replace(record, container_id="0" * 64)}
    # an hour earlier, by the wall clock and by the ticks since boot (what a record holds)
    ticks = None if record.start_ticks is None else record.start_ticks - 3600 * 100
    earlier = replace(record, create_time=record.create_time - 3600, start_ticks=ticks)
    return {
        "process gone": replace(earlier, pid=_dead_pid()),
        "pid reused": earlier,  # the pid names another process
    }


def test_preflight_passes_and_nothing_is_found_before_a_start(subject: Subject) -> None:
    """Before anything runs, preflight passes and find (without a record) says Absent."""
    provider, svc, _ = subject
    provider.preflight([svc])
    assert provider.find(svc, None) == Absent()


def test_start_returns_a_running_handle_whose_record_names_this_instance(
    subject: Subject,
) -> None:
    """start gives a handle that becomes ready, has not exited and records this instance."""
    provider, svc, stack = subject
    handle = start(subject)
    record = handle.record
    assert (record.service, record.instance, record.provider) == (
        svc.name,
        stack.instance_id,
        provider.name,
    )
    assert (record.port, record.settings) == (svc.port, SETTINGS)
    assert subject.records.read(svc.name) == record
    assert handle.exited() is None


def test_with_its_record_the_service_is_ours(subject: Subject) -> None:
    """find with the written record is Ours, and its handle carries that very record."""
    provider, svc, _ = subject
    start(subject)
    record = subject.records.read(svc.name)
    assert isinstance(record, Record)
    found = provider.find(svc, record)
    assert isinstance(found, Ours), found
    assert found.handle.record == record


def test_without_its_record_the_service_is_an_orphan_never_absent(subject: Subject) -> None:
    """A running service whose record was lost is found by its marks: Orphan, never Absent."""
    provider, svc, _ = subject
    start(subject)
    assert isinstance(provider.find(svc, None), Orphan)


def test_a_record_of_something_that_does_not_exist_is_never_ours(subject: Subject) -> None:
    """A record pointing at a gone process or container is never Ours (nor hides the service)."""
    provider, svc, _ = subject
    handle = start(subject)
    found = {case: provider.find(svc, r) for case, r in impostors(handle.record).items()}
    verdicts = {case: type(f).__name__ for case, f in found.items()}
    assert not any(isinstance(f, Ours | Absent) for f in found.values()), verdicts


def test_logs_since_a_mark_are_what_this_run_printed(subject: Subject) -> None:
    """tail(since=mark) returns the lines printed after the mark: this run's, not the last's."""
    provider, svc, _ = subject
    logs = provider.logs(svc)
    stop(subject, start(subject).record)  # an earlier run, whose lines must not show
    mark = logs.mark()
    start(subject)

    def this_run() -> list[str]:
        return [line for line in logs.tail(200, since=mark) if READY in line]

    wait_until(lambda: None if this_run() else f"no {READY!r} in {logs.source}", 30)
    assert len(this_run()) == 1, logs.tail(200, since=mark)


def test_stop_ends_the_service_and_frees_its_port(subject: Subject) -> None:
    """After stop, find says Absent (the record: Stale), the port is free, the handle exited."""
    provider, svc, _ = subject
    handle = start(subject)
    stop(subject, handle.record)
    assert provider.find(svc, None) == Absent()
    assert provider.find(svc, handle.record) == Stale(handle.record)
    if isinstance(provider, FakeProvider):
        assert svc.name not in provider.running
    assert provider.occupant(svc) is None
    assert handle.exited() is not None


def test_purge_and_finish_say_what_went_and_leave_nothing(subject: Subject) -> None:
    """After stop, purge and finish return lists (again on repeat) and nothing is left."""
    provider, svc, _ = subject
    stop(subject, start(subject).record)
    purged = provider.purge(svc)
    finished = provider.finish([svc], purge=True)
    assert all(isinstance(x, str) for x in [*purged, *finished]), (purged, finished)
    if isinstance(provider, NativeProvider):
        assert purged == [str(InstancePaths(subject.stack.state_dir).data_for(svc.name))]
        assert not Path(purged[0]).exists()
    assert isinstance(provider.purge(svc), list)
    assert isinstance(provider.finish([svc], purge=True), list)
    assert leftovers(subject) == []
