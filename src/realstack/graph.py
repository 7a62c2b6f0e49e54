"""Dependency order: start waves from ``depends_on`` (stdlib graphlib), reversed for stop."""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Sequence

from realstack.errors import CycleError
from realstack.model import Service


def _sorter(services: Iterable[Service]) -> graphlib.TopologicalSorter[str]:
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for svc in services:
        sorter.add(svc.name, *(d.service for d in svc.depends_on))
    return sorter


def check_acyclic(services: Sequence[Service]) -> None:
    """Raise :class:`CycleError` naming the loop if ``depends_on`` has one."""
    try:
        _sorter(services).prepare()
    except graphlib.CycleError as exc:
        cycle = list(reversed(exc.args[1]))
        raise CycleError(f"tool.realstack.services.{cycle[0]}.depends_on", cycle) from None


def waves(services: Sequence[Service]) -> list[list[str]]:
    """Groups that can start together, in start order."""
    sorter = _sorter(services)
    sorter.prepare()
    result: list[list[str]] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        result.append(ready)
        sorter.done(*ready)
    return result


def with_dependencies(services: Sequence[Service], names: Iterable[str]) -> list[Service]:
    """The named services plus everything they transitively depend on, in manifest order."""
    by_name = {s.name: s for s in services}
    wanted: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo.extend(d.service for d in by_name[name].depends_on)
    return [s for s in services if s.name in wanted]


def dependents(services: Sequence[Service], name: str) -> list[Service]:
    """What depends on ``name``, directly or through others, in manifest order."""
    return [
        s
        for s in services
        if s.name != name and name in {d.name for d in with_dependencies(services, [s.name])}
    ]


def dependents_first(services: Sequence[Service]) -> list[Service]:
    """Stop order: a service stops before anything it depends on."""
    by_name = {s.name: s for s in services}
    # waves() also yields the dependencies of the given services; stop only the given ones.
    order = [name for wave in waves(services) for name in wave if name in by_name]
    return [by_name[n] for n in reversed(order)]


Node = tuple[str, str]  # (service, "started" | "healthy"); a task's "healthy" is "completed"


def _phase(condition: str) -> str:
    return "healthy" if condition == "completed" else condition


def phase_graph(services: Sequence[Service]) -> graphlib.TopologicalSorter[Node]:
    """The start graph: each service is started, then healthy; a dependency edge waits for
    the phase its condition names, so a ``started`` dependency does not wait for health."""
    sorter: graphlib.TopologicalSorter[Node] = graphlib.TopologicalSorter()
    for svc in services:
        sorter.add((svc.name, "healthy"), (svc.name, "started"))
        needs = ((d.service, _phase(d.condition)) for d in svc.depends_on)
        sorter.add((svc.name, "started"), *needs)
    return sorter
