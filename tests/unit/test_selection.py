"""What a start brings up (profiles, ``only``, dependencies), where each service runs
(``--provider``, ``auto``), and how status shows a service whose profile is off."""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import free_port
from integration._support import distinct_free_ports
from realstack import orchestrator, plan
from realstack.errors import ConfigError, ProviderError
from realstack.manifest import build_stack
from realstack.model import Stack
from realstack.providers.placement import Placement
from realstack.results import Event
from realstack.status import status

ROOT = Path("/srv/project")
SVC_SCRIPT = Path(__file__).resolve().parents[1] / "process" / "svc.py"


def process(port: int, **fields: Any) -> dict[str, Any]:
    return {"kind": "process", "port": port, "command": ["{python}", "-m", "app"], **fields}


# postgres and api are always on; the analytics profile adds ClickHouse and its ingester,
# the search profile a Redis; reports (always on) reads ClickHouse.
APP: dict[str, Any] = {
    "postgres": {"kind": "postgres", "port": 5434, "user": "u", "database": "d"},
    "clickhouse": {"kind": "clickhouse", "port": 8125, "profiles": ["analytics"]},
    "ingest": process(8091, profiles="analytics", depends_on=["clickhouse", "postgres"]),
    "search": {"kind": "redis", "port": 6390, "profiles": ["search"]},
    "api": process(8001, depends_on=["postgres"]),
}


def stack_of(
    services: Mapping[str, Any], active: str = "", root: Path = ROOT, **table: Any
) -> Stack:
    return build_stack(
        {"services": dict(services), **table},
        root=root,
        env="test",
        variables={"REALSTACK_PROFILES": active},
    )


def to_start(stack: Stack, only: Sequence[str] | None = None) -> list[str]:
    return [s.name for s in plan.to_start(stack, only)]


# --------------------------------------------------------------------------- what starts


def test_a_plain_start_brings_up_only_the_services_without_profiles() -> None:
    """No active profile: the profile services stay down."""
    assert to_start(stack_of(APP)) == ["postgres", "api"]


@pytest.mark.parametrize(
    ("active", "expected"),
    [
        ("analytics", ["postgres", "clickhouse", "ingest", "api"]),
        ("search", ["postgres", "search", "api"]),
        ("search,analytics", ["postgres", "clickhouse", "ingest", "search", "api"]),
        ("reports", ["postgres", "api"]),
    ],
)
def test_an_active_profile_adds_its_services_in_manifest_order(
    active: str, expected: list[str]
) -> None:
    """Each active profile adds the services that carry it; an unused profile adds nothing."""
    assert to_start(stack_of(APP, active)) == expected


def test_a_service_named_in_only_starts_whatever_its_profiles() -> None:
    """Naming a service is enough: its profile need not be active, and its dependencies
    (with or without a profile) come along."""
    assert to_start(stack_of(APP), ["ingest"]) == ["postgres", "clickhouse", "ingest"]
    assert to_start(stack_of(APP), ["search"]) == ["search"]


def test_only_adds_nothing_else_of_the_active_profiles() -> None:
    """``only`` is the whole selection: an active profile does not widen it."""
    assert to_start(stack_of(APP, "analytics,search"), ["api"]) == ["postgres", "api"]


def test_an_enabled_service_brings_its_profile_dependency_along() -> None:
    """A dependency is started for the service that needs it, whatever the dependency's
    profiles: reports (always on) pulls ClickHouse in without the analytics profile."""
    services = {**APP, "reports": process(8092, depends_on=["clickhouse"])}
    assert to_start(stack_of(services)) == ["postgres", "clickhouse", "api", "reports"]


def test_an_unknown_name_in_only_is_a_usage_error() -> None:
    """A typo in ``only`` names the option and the known services."""
    with pytest.raises(ConfigError) as info:
        plan.to_start(stack_of(APP), ["clickhose"])
    assert info.value.path == "only"
    assert "'clickhose'" in info.value.message


@settings(max_examples=100, deadline=None)
@given(active=st.sets(st.sampled_from(["analytics", "search", "reports"])))
def test_a_plain_start_is_the_enabled_services_closed_under_dependencies(
    active: set[str],
) -> None:
    """Every service without a profile or with an active one starts; any other service
    starts only as a dependency of one that does."""
    services = {**APP, "reports": process(8092, depends_on=["clickhouse"], profiles="reports")}
    stack = stack_of(services, " ".join(sorted(active)))
    started = set(to_start(stack))
    for svc in stack.services:
        own = not svc.profiles or bool(active & set(svc.profiles))
        needed = any(
            svc.name in {d.service for d in other.depends_on}
            for other in stack.services
            if other.name in started
        )
        assert (svc.name in started) == (own or needed), (svc.name, sorted(started))


# --------------------------------------------------------------------------- where it runs

INFRA: dict[str, Any] = {
    "postgres": {"kind": "postgres", "port": 5434, "user": "u", "database": "d"},
    "redis": {"kind": "redis", "port": 6381},
    "clickhouse": {"kind": "clickhouse", "port": 8125},
    "api": process(8001),
}


class Notes:
    """A reporter that keeps what it was told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def __call__(self, service: str, event: Event, detail: str) -> None:
        self.events.append((service, event, detail))


def engine(answers: bool) -> tuple[list[bool], Callable[[], bool]]:
    """A pretend Docker engine that does (not) answer; the list records each ping."""
    pings: list[bool] = []

    def ping() -> bool:
        pings.append(answers)
        return answers

    return pings, ping


def no_engine_check() -> bool:
    pytest.fail("the Docker engine was asked although no service is on auto")


def resolve(
    stack: Stack,
    override: str | None = None,
    ping: Callable[[], bool] = no_engine_check,
    progress: Notes | None = None,
) -> dict[str, str]:
    """Where a start would put each service (the provider's name, nothing constructed)."""
    placement = Placement(stack, override, engine=ping)
    return {s.name: placement.choose(s, progress or Notes()) for s in stack.services}


def test_manifest_providers_are_kept_without_an_override() -> None:
    """Native postgres/redis stay native, ClickHouse is docker, a process native; no ping."""
    resolved = resolve(stack_of(INFRA))
    assert resolved == {
        "postgres": "native",
        "redis": "native",
        "clickhouse": "docker",
        "api": "native",
    }


@pytest.mark.parametrize(("override", "switchable"), [("docker", "docker"), ("native", "native")])
def test_the_provider_override_moves_only_postgres_and_redis(
    override: str, switchable: str
) -> None:
    """``--provider`` is for the kinds that run both ways: a process stays native and
    ClickHouse stays in docker, whatever it says."""
    stack = stack_of(INFRA, provider="docker" if override == "native" else "native")
    resolved = resolve(stack, override)
    assert resolved == {
        "postgres": switchable,
        "redis": switchable,
        "clickhouse": "docker",
        "api": "native",
    }


def test_auto_without_an_engine_falls_back_to_native_for_postgres_and_redis_only() -> None:
    """No engine: postgres and redis run natively (each with a note), ClickHouse is still
    docker (it has nowhere else to go, so starting it reports the missing engine), and the
    engine is asked once."""
    pings, ping = engine(answers=False)
    notes = Notes()
    resolved = resolve(stack_of(INFRA), "auto", ping, notes)
    assert resolved == {
        "postgres": "native",
        "redis": "native",
        "clickhouse": "docker",
        "api": "native",
    }
    assert [(name, event) for name, event, _ in notes.events] == [
        ("postgres", "note"),
        ("redis", "note"),
    ]
    assert all("docker engine not answering" in detail for _, _, detail in notes.events)
    assert len(pings) == 1


def test_auto_clickhouse_never_falls_back_to_native() -> None:
    """A manifest-level auto ClickHouse without an engine is docker, and no note says native."""
    _, ping = engine(answers=False)
    notes = Notes()
    stack = stack_of({"clickhouse": INFRA["clickhouse"]}, provider="auto")
    assert stack.service("clickhouse").provider == "auto"
    assert resolve(stack, None, ping, notes) == {"clickhouse": "docker"}
    assert notes.events == []


def test_auto_with_an_engine_puts_every_infra_service_in_docker() -> None:
    """An answering engine: postgres, redis and ClickHouse in docker, the process native."""
    pings, ping = engine(answers=True)
    notes = Notes()
    resolved = resolve(stack_of(INFRA, provider="auto"), None, ping, notes)
    assert resolved == {
        "postgres": "docker",
        "redis": "docker",
        "clickhouse": "docker",
        "api": "native",
    }
    assert notes.events == []
    assert len(pings) == 1


def test_an_unknown_provider_override_is_a_usage_error() -> None:
    """``--provider podman`` names the option and the choices."""
    with pytest.raises(ConfigError) as info:
        resolve(stack_of(INFRA), "podman")
    assert info.value.path == "provider"
    assert "auto, docker, native" in info.value.message


# --------------------------------------------------------------------------- status


def quiet_stack(tmp_path: Path, active: str = "") -> Stack:
    """Native services on free ports, nothing started: always-on cache, search (one profile)
    and reports (two profiles)."""
    cache, search, reports = distinct_free_ports(3)
    services = {
        "cache": {"kind": "redis", "port": cache},
        "search": {"kind": "redis", "port": search, "profiles": ["search"]},
        "reports": process(reports, profiles=["reports", "analytics"]),
    }
    return stack_of(services, active, root=tmp_path)


def test_status_says_which_profile_a_down_service_waits_for(tmp_path: Path) -> None:
    """A profile service that is down because its profile is off says so, naming all its
    profiles; an always-on service that is down just says nothing."""
    rows = {row.name: row for row in status(quiet_stack(tmp_path), probe=False)}
    assert {name: row.state for name, row in rows.items()} == {
        "cache": "down",
        "search": "down",
        "reports": "down",
    }
    assert rows["cache"].health == "-"
    assert rows["search"].health == "profile search not enabled"
    assert rows["reports"].health == "profile analytics,reports not enabled"


def test_status_of_a_down_service_whose_profile_is_active_is_plain_down(tmp_path: Path) -> None:
    """Once the profile is active, down is down: nothing about profiles."""
    rows = {row.name: row for row in status(quiet_stack(tmp_path, "analytics"), probe=False)}
    assert (rows["reports"].state, rows["reports"].health) == ("down", "-")
    assert rows["search"].health == "profile search not enabled"


def test_a_stranger_on_a_disabled_services_port_is_no_concern_of_status(tmp_path: Path) -> None:
    """A service whose profile is off is not part of the stack now: its row says so; who
    else holds its port is for a start with that profile to find (and refuse), while the
    same stranger on an always-on service's port shows as foreign."""
    stack = quiet_stack(tmp_path)
    with socket.socket() as search, socket.socket() as cache:
        for sock, name in ((search, "search"), (cache, "cache")):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", stack.service(name).port))
            sock.listen()
        rows = {row.name: row for row in status(stack, probe=False)}
    assert (rows["search"].state, rows["search"].health) == ("down", "profile search not enabled")
    assert rows["cache"].state == "foreign"


def test_docker_without_an_engine_fails_before_anything_starts_and_says_how_to_fix_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One message naming where it looked and the fix; no compose call, nothing started."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    stack = stack_of({"cache": {"kind": "redis", "port": free_port()}}, root=tmp_path)
    with pytest.raises(ProviderError) as caught:
        orchestrator.start(stack, provider="docker")
    message = str(caught.value)
    assert f"no Docker engine answers at unix://{tmp_path}/no-engine.sock" in message
    assert "start_docker_engine.sh" in message
    assert "--provider native" in message
    assert not list((tmp_path / ".realstack").rglob("*.json"))


def test_without_an_engine_clickhouse_is_not_told_to_run_natively(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ClickHouse runs only in Docker: the fix offered is an engine or leaving it out, never
    ``--provider native``, which failed again with the same message."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    stack = stack_of({"olap": {"kind": "clickhouse", "port": free_port()}}, root=tmp_path)
    with pytest.raises(ProviderError) as caught:
        orchestrator.start(stack)
    message = str(caught.value)
    assert "start_docker_engine.sh" in message
    assert "leave out what runs only in Docker" in message
    assert "--provider native" not in message


def test_a_stop_says_nothing_of_a_service_whose_profile_is_off_and_that_never_ran(
    tmp_path: Path,
) -> None:
    """`services.stop` printed "clickhouse stopping / not-running" on every stack whose
    analytics profile is off. It is still asked (an earlier start may have had the profile
    on), but said only when something of it was there; an always-on service that is not
    running is still said, and so is one named with --only."""
    stack = quiet_stack(tmp_path)
    said: list[tuple[str, str]] = []

    report = orchestrator.stop(stack, progress=lambda name, event, _: said.append((name, event)))

    assert {r.name for r in report.results} == {"cache", "search", "reports"}
    assert said == [("cache", Event.STOPPING), ("cache", Event.NOT_RUNNING)]
    said.clear()
    orchestrator.stop(stack, only=["search"], progress=lambda n, e, _: said.append((n, e)))
    assert said == [("search", Event.STOPPING), ("search", Event.NOT_RUNNING)]
