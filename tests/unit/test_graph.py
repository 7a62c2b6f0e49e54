"""Start waves from depends_on, dependencies pulled in transitively, and the reverse stop order."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realstack.errors import CycleError
from realstack.graph import (
    check_acyclic,
    dependents,
    dependents_first,
    waves,
    with_dependencies,
)
from realstack.model import Dependency, Probe, Service


def svc(name: str, *deps: str) -> Service:
    return Service(
        name=name,
        kind="process",
        port=1,
        probe=Probe(kind="tcp"),
        depends_on=tuple(Dependency(d) for d in deps),
    )


# The reference app: postgres and redis first, auth next, backend last; worker beside auth.
APP = [
    svc("backend", "auth", "postgres", "redis"),
    svc("auth", "postgres"),
    svc("postgres"),
    svc("redis"),
    svc("worker", "redis"),
]


def names(services: Iterable[Service]) -> list[str]:
    return [s.name for s in services]


def test_waves_start_dependencies_first() -> None:
    """Each wave only needs earlier waves; a wave is sorted for stable output."""
    assert waves(APP) == [["postgres", "redis"], ["auth", "worker"], ["backend"]]


def test_independent_services_share_one_wave() -> None:
    """Services without dependencies all start together."""
    assert waves([svc("c"), svc("a"), svc("b")]) == [["a", "b", "c"]]


def test_a_chain_gives_one_service_per_wave() -> None:
    """a ← b ← c starts strictly in order."""
    assert waves([svc("c", "b"), svc("b", "a"), svc("a")]) == [["a"], ["b"], ["c"]]


def test_with_dependencies_adds_transitive_dependencies_in_manifest_order() -> None:
    """Asking for backend brings auth, postgres and redis, but not the unrelated worker."""
    assert names(with_dependencies(APP, ["backend"])) == ["backend", "auth", "postgres", "redis"]


def test_with_dependencies_of_a_leaf_is_just_the_leaf() -> None:
    """A service without dependencies comes alone."""
    assert names(with_dependencies(APP, ["redis"])) == ["redis"]


def test_with_dependencies_merges_several_requests() -> None:
    """Overlapping requests do not duplicate services."""
    assert names(with_dependencies(APP, ["auth", "worker", "auth"])) == [
        "auth",
        "postgres",
        "redis",
        "worker",
    ]


def test_with_dependencies_of_nothing_is_nothing() -> None:
    """An empty selection selects nothing."""
    assert with_dependencies(APP, []) == []


def test_dependents_are_what_needs_a_service_directly_or_through_another() -> None:
    """postgres is needed by auth, and by backend (directly and through auth); redis by
    backend and worker; nothing needs backend."""
    assert names(dependents(APP, "postgres")) == ["backend", "auth"]
    assert names(dependents(APP, "redis")) == ["backend", "worker"]
    assert names(dependents(APP, "auth")) == ["backend"]
    assert dependents(APP, "backend") == []


def test_dependents_first_is_the_reverse_of_the_start_order() -> None:
    """Stop order: backend before auth before the databases."""
    order = names(dependents_first(APP))
    assert order == list(reversed([n for wave in waves(APP) for n in wave]))
    assert order.index("backend") < order.index("auth") < order.index("postgres")
    assert order.index("worker") < order.index("redis")


def test_check_acyclic_accepts_a_dag() -> None:
    """A diamond is not a cycle."""
    check_acyclic([svc("d", "b", "c"), svc("b", "a"), svc("c", "a"), svc("a")])


def test_check_acyclic_names_the_loop() -> None:
    """The CycleError carries the loop with its first node repeated at the end."""
    with pytest.raises(CycleError) as info:
        check_acyclic([svc("ok"), svc("x", "y"), svc("y", "x")])
    assert info.value.cycle in (("x", "y", "x"), ("y", "x", "y"))
    assert info.value.path == f"tool.realstack.services.{info.value.cycle[0]}.depends_on"


@st.composite
def dags(draw: st.DrawFn) -> list[Service]:
    """Random DAGs: each service may depend only on services defined before it."""
    count = draw(st.integers(1, 8))
    services: list[Service] = []
    for i in range(count):
        deps = draw(st.sets(st.integers(0, i - 1), max_size=3)) if i else set()
        services.append(svc(f"s{i}", *(f"s{d}" for d in sorted(deps))))
    return draw(st.permutations(services))


@settings(max_examples=100, deadline=None)
@given(dags())
def test_every_order_respects_every_edge(services: list[Service]) -> None:
    """Start waves put dependencies in earlier waves; stop order puts dependents first."""
    wave_of = {n: i for i, wave in enumerate(waves(services)) for n in wave}
    stop = names(dependents_first(services))
    assert sorted(wave_of) == sorted(names(services))
    assert sorted(stop) == sorted(names(services))
    for s in services:
        for dep in s.depends_on:
            assert wave_of[dep.service] < wave_of[s.name]
            assert stop.index(s.name) < stop.index(dep.service)
